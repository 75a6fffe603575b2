"""A real HTTP server on 127.0.0.1 for provider-client tests: scripted replies, recorded requests.

Clients under test talk real HTTP to it (sockets, headers, timeouts), so what is tested is
what would go over the wire, not what a mock transport chooses to pass along.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Recorded:
    """One request as the server received it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Reply:
    """What the server answers. ``body`` that is not bytes/str is sent as JSON."""

    status: int = 200
    body: Any = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0

    def encoded(self) -> tuple[bytes, str]:
        if isinstance(self.body, bytes):
            return self.body, "application/octet-stream"
        if isinstance(self.body, str):
            return self.body.encode(), "text/html; charset=utf-8"
        return json.dumps(self.body).encode(), "application/json"


Responder = Callable[[Recorded], Reply]


class FakeServer:
    """Answers each request with the next queued reply (or ``respond``), recording it."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.replies: deque[Reply | Responder] = deque()
        self.respond: Responder | None = None
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        # Join handler threads on close, so no thread outlives the test; sleeping handlers
        # wake on ``stopping``.
        self._httpd.daemon_threads = False
        self._httpd.block_on_close = True
        # A short poll keeps shutdown() (which waits for the next poll) from costing 0.5 s.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def queue(self, *replies: Reply | Responder) -> None:
        self.replies.extend(replies)

    def _next(self, recorded: Recorded) -> Reply:
        with self._lock:
            self.requests.append(recorded)
            reply: Reply | Responder | None = (
                self.replies.popleft() if self.replies else self.respond
            )
        if reply is None:
            return Reply(status=599, body=b"no reply queued")
        return reply if isinstance(reply, Reply) else reply(recorded)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()


def _handler_for(server: FakeServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            recorded = Recorded(
                method=self.command,
                path=self.path,
                headers={k.lower(): v for k, v in self.headers.items()},
                body=self.rfile.read(length),
            )
            reply = server._next(recorded)
            if reply.delay and server.stopping.wait(reply.delay):
                return
            body, content_type = reply.encoded()
            try:
                self.send_response(reply.status)
                headers = {"Content-Type": content_type, **reply.headers}
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeout tests)

        do_GET = do_POST = _serve

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@contextmanager
def running_server() -> Iterator[FakeServer]:
    """A started :class:`FakeServer`, stopped (threads joined, socket closed) on exit."""
    server = FakeServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def unused_port_url() -> str:
    """A URL on 127.0.0.1 whose port nothing listens on (connection refused)."""
    with running_server() as server:
        url = server.url
    return url
