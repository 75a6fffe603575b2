"""A local fake of SignalWire's Compatibility Messaging API: a real HTTP server on loopback.

It answers ``POST /api/laml/2010-04-01/Accounts/{ProjectID}/Messages.json`` the way the
published spec says (tests/fixtures/providers/signalwire/SOURCE.md): HTTP Basic with the
project id and API token, a form with ``To``, ``From``, ``Body``; a ``Message`` resource
on success, a ``CompatibilityErrorResponse`` with 401 on bad credentials. Every request
is recorded as received (method, path, headers, raw body) for the tests to read.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

FIXTURES = Path(__file__).parents[1] / "fixtures" / "providers" / "signalwire"
PROJECT = "ea108133-d6b3-407c-9536-9fad8a929a6a"
TOKEN = "PTfake-api-token-0123456789"


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def form(self) -> list[tuple[str, str]]:
        return parse_qsl(self.body.decode(), keep_blank_values=True, strict_parsing=True)


@dataclass
class FakeSignalWire:
    """State shared with the handler: what came in, and what to answer next."""

    requests: list[Received] = field(default_factory=list)
    # Scripted answers, consumed in order: (status, extra headers, delay seconds).
    script: list[tuple[int, dict[str, str], float]] = field(default_factory=list)
    url: str = ""
    # A body to answer the next 200 with instead of the Message fixture.
    next_body: bytes | None = None


def _handler(fake: FakeSignalWire) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # quiet
            pass

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            body = self.rfile.read(length)
            fake.requests.append(
                Received("POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body)
            )
            status, extra, delay = fake.script.pop(0) if fake.script else (200, {}, 0.0)
            if delay:
                time.sleep(delay)
            expected = "Basic " + base64.b64encode(f"{PROJECT}:{TOKEN}".encode()).decode()
            if self.headers.get("authorization") != expected:
                status = 401
            path_ok = self.path == f"/api/laml/2010-04-01/Accounts/{PROJECT}/Messages.json"
            if status == 200 and not path_ok:
                status = 404
            if status == 200:
                form = dict(parse_qsl(body.decode(), keep_blank_values=True))
                text = (FIXTURES / "create_message_response.json").read_text()
                payload = json.loads(text)
                payload["to"], payload["body"] = form.get("To"), form.get("Body")
            elif status == 401:
                payload = json.loads((FIXTURES / "error_401.json").read_text())
            else:
                payload = {"code": 0, "message": "error", "more_info": "", "status": status}
            out = json.dumps(payload).encode()
            if status == 200 and fake.next_body is not None:
                out, fake.next_body = fake.next_body, None
            try:
                self.send_response(status)
                for k, v in extra.items():
                    self.send_header(k, v)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout test)
                pass

    return Handler


@contextmanager
def fake_signalwire() -> Iterator[FakeSignalWire]:
    fake = FakeSignalWire()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    server.daemon_threads = True
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
