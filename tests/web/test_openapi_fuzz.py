"""Schemathesis against the served OpenAPI document: no generated input produces a 500."""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from starlette.testclient import TestClient

from equity_connect.config import Settings
from equity_connect.security.crypto import generate_key
from equity_connect.web.app import create_app


def test_no_generated_input_makes_a_500(fresh_database_url: str) -> None:
    app = create_app(
        Settings(
            encryption_keys=f"k1:{generate_key()}",
            index_key=generate_key(),
            jwt_secret="fuzzing-jwt-secret-that-is-32-bytes!!",
            upload_secrets="fuzz-secret",
            instantly_webhook_secrets="x",
            calcom_secrets="y",
            vapi_secrets="z",
        ),
        conninfo=fresh_database_url,
    )
    failures: list[str] = []
    with TestClient(app):  # runs the lifespan (opens the pool)
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) >= 12

        def probe_of(operation: Any) -> Any:
            @given(case=operation.as_strategy())
            @settings(
                max_examples=12,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def probe(case: Any) -> None:
                response = case.call()
                documented_503 = operation.path == "/readyz" and response.status_code == 503
                if response.status_code >= 500 and not documented_503:
                    failures.append(
                        f"{operation.method.upper()} {operation.path} -> {response.status_code}"
                    )

            return probe

        for operation in operations:
            probe_of(operation)()
        calls = len(operations)
    assert calls >= 12
    assert failures == []
