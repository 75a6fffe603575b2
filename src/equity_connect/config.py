"""One place for configuration: every setting reads an ``EC_``-prefixed env var.

``DATABASE_URL`` is the exception (no prefix) because every Postgres host,
Supabase included, hands it out under that name.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Runtime settings. Secrets are read here but never logged or stored in the database."""

    model_config = SettingsConfigDict(env_prefix="EC_", extra="ignore")

    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "EC_DATABASE_URL")
    )
    data_dir: Path = Path(".data")
    pool_min_size: int = 1
    pool_max_size: int = 10

    # PII keys. Either inline values or files holding them (Docker/K8s secrets).
    encryption_keys: str | None = None
    encryption_keys_file: Path | None = None
    index_key: str | None = None
    index_key_file: Path | None = None

    # Uploads: signing secrets (comma-separated; several at once for rotation;
    # a whsec_ secret is base64-decoded as Standard Webhooks says).
    upload_secrets: str | None = None
    max_upload_bytes: int = 512 * 1024 * 1024
    max_upload_rows: int = 5_000_000
    max_field_bytes: int = 131_072
    signature_tolerance_seconds: int = 300
    # An upload adding at least this many leads (and a third of the table)
    # rebuilds leads' indexes instead of updating them row by row; 0: never.
    ingest_bulk_index_min_rows: int = 100_000
    # Processes that stage a large upload's rows; 0: one per available core.
    ingest_workers: int = 0

    # Skip-trace: providers in the order they are asked (melissa, batchdata,
    # simulator); the next is asked only for leads the previous left unmatched.
    skiptrace_providers: str = ""
    skiptrace_window_days: int = 30
    skiptrace_batch_size: int = 100
    melissa_license: str | None = None
    melissa_base_url: str = "https://personator.melissadata.net"
    melissa_path: str = "/v3/WEB/ContactVerify/doContactVerify"
    melissa_rate_per_sec: float = 10.0
    batchdata_token: str | None = None
    batchdata_base_url: str = "https://api.batchdata.com"
    batchdata_rate_per_sec: float = 50.0  # 3,000 requests/min per token

    # Campaign feed
    daily_feed_cap: int = 250
    campaign_provider: str = ""  # instantly | simulator
    instantly_api_key: str | None = None
    instantly_base_url: str = "https://api.instantly.ai"
    instantly_campaign_id: str | None = None
    schedule_grace_hours: float = 4.0
    skip_federal_holidays: bool = True
    skip_dates: str = ""  # comma-separated ISO dates

    # Inbound webhooks. Each provider's secrets are comma-separated (rotation).
    max_webhook_bytes: int = 1024 * 1024
    instantly_webhook_secrets: str | None = None
    instantly_webhook_header: str = "X-Webhook-Secret"
    vapi_secrets: str | None = None
    vapi_auth: str = "secret"  # secret (X-Vapi-Secret) | bearer | hmac
    vapi_hmac_signature_header: str = "x-signature"
    vapi_hmac_timestamp_header: str = "x-timestamp"
    vapi_hmac_payload_format: str = "{timestamp}.{body}"
    vapi_hmac_prefix: str = ""
    calcom_secrets: str | None = None

    # Replies, consent, booking, notifications
    llm_base_url: str | None = None  # any OpenAI-compatible endpoint; unset = local only
    llm_api_key: str | None = None
    llm_model: str = "gpt-4o-mini"
    llm_timeout_seconds: float = 8.0
    public_base_url: str = "http://127.0.0.1:8000"
    consent_ttl_hours: int = 168
    disclosure_version: str = "2026-11-tcpa-v1"
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    smtp_from: str = "equity-connect@localhost"

    # Worker
    worker_concurrency: int = 4
    job_lease_seconds: float = 60.0

    # Health and auth
    ready_worker_max_age_seconds: float = 120.0
    jwt_secret: str | None = None  # the Supabase project's JWT secret (HS256)
    jwt_audience: str = "authenticated"
    session_secret: str | None = None  # signs dashboard session cookies
    log_level: str = "INFO"

    # API server
    host: str = "127.0.0.1"
    port: int = 8000

    # Reply classifier (replies/model.py): "model" = opt-out guard + learned model, falling
    # back to the rules with a warning where the model cannot load; "rules" = guard + rules.
    reply_classifier: Literal["model", "rules"] = "model"

    @field_validator("jwt_secret")
    @classmethod
    def _jwt_secret_long_enough(cls, value: str | None) -> str | None:
        # HS256 keys under 32 bytes are refused by the verifier (RFC 7518 §3.2);
        # failing here makes that a start-up error instead of a 500 per request.
        if value is not None and len(value.encode()) < 32:
            raise ValueError("EC_JWT_SECRET must be at least 32 bytes")
        return value

    @property
    def embedded_pgdata(self) -> Path:
        """Where the embedded PostgreSQL keeps its cluster when no DATABASE_URL is set."""
        return self.data_dir / "pg"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings for this process, read once from the environment."""
    return Settings()
