"""The n8n recipe's Code node, exactly as docs/events.md prints it, run under Node.

n8n runs a Code node's text as the body of an async function, with ``$input``
and ``this.helpers`` in scope; the harness gives it the same, filled from a
real delivery our sender made to a local receiver. Skipped where Node is
missing (it is part of the machine image CI runs on).
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from psycopg_pool import ConnectionPool

from equity_connect.db.pool import Conn
from equity_connect.events.schemas import EventType
from equity_connect.security.crypto import Keyring
from tests.events.helpers import add_dead_letter, run_worker, subscribe
from tests.outbound.fakeserver import Recorded, Reply, running_server

DOC = Path(__file__).resolve().parents[2] / "docs" / "events.md"
NODE = shutil.which("node")

HARNESS = r"""
const input = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const item = { json: { headers: input.headers, body: {} } };
const $input = { first: () => item, all: () => [item] };
const self = { helpers: { getBinaryDataBuffer: async (i, name) => {
  if (i !== 0 || name !== 'data') throw new Error('unexpected binary lookup');
  return Buffer.from(input.body, 'base64');
} } };
const AsyncFunction = Object.getPrototypeOf(async function () {}).constructor;
const code = new AsyncFunction('$input', 'require', input.code);
code.call(self, $input, require).then(
  (out) => process.stdout.write(JSON.stringify({ ok: out })),
  (err) => process.stdout.write(JSON.stringify({ error: err.message })),
);
"""


def _recipe(secret: str) -> str:
    [code] = re.findall(r"```js\n(.*?)```", DOC.read_text(), flags=re.DOTALL)
    assert "'whsec_PASTE_YOURS'" in code
    return code.replace("'whsec_PASTE_YOURS'", json.dumps(secret))


def _run(code: str, request: Recorded, **override: Any) -> dict[str, Any]:
    headers = {**request.headers, **override.pop("headers", {})}
    body = override.pop("body", request.body)
    assert NODE is not None
    done = subprocess.run(  # noqa: S603 - our own harness, fixed arguments
        [NODE, "-e", HARNESS],
        input=json.dumps(
            {"code": code, "headers": headers, "body": base64.b64encode(body).decode()}
        ),
        capture_output=True,
        text=True,
        timeout=20,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout)
    return result


@pytest.mark.skipif(NODE is None, reason="Node.js is not installed")
def test_the_documented_code_node_verifies_our_deliveries(
    pool: ConnectionPool[Conn], keyring: Keyring
) -> None:
    with running_server() as receiver:
        receiver.respond = lambda _r: Reply(200)
        endpoint = subscribe(pool, keyring, receiver.url, [EventType.DLQ_ADDED])
        dlq_id = add_dead_letter(pool)
        run_worker(pool, keyring)
        [request] = receiver.requests
    code = _recipe(endpoint.secret)
    [out] = _run(code, request)["ok"]
    assert out["json"]["type"] == "dlq.added"
    assert out["json"]["dlq_id"] == dlq_id
    assert out["json"]["webhookId"] == request.headers["webhook-id"]

    tampered = request.body.replace(b'"attempts":8', b'"attempts":9')
    assert tampered != request.body
    assert "does not match" in _run(code, request, body=tampered)["error"]
    other = _recipe("whsec_" + "B" * 43 + "=")
    assert "does not match" in _run(other, request)["error"]
    stale = str(int(request.headers["webhook-timestamp"]) - 3600)
    assert "too far" in _run(code, request, headers={"webhook-timestamp": stale})["error"]
