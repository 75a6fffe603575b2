"""A loopback TCP proxy in front of PostgreSQL whose "network" the test can cut.

Simulated, and named so: it stands in for a pooler restart or a network
partition. ``cut()`` resets every open connection and refuses new ones (as a
server that is down does); ``restore()`` lets connections through again.
The upstream may be TCP (CI's system PostgreSQL) or a Unix socket (the
embedded pgserver), so the same tests run on both.
"""

from __future__ import annotations

import contextlib
import socket
import threading

from psycopg.conninfo import conninfo_to_dict, make_conninfo


class SimulatedNetworkCut:
    """Forward 127.0.0.1:<port> to the server of ``url`` until cut."""

    def __init__(self, url: str) -> None:
        params = conninfo_to_dict(url)
        host = str(params.get("host") or "127.0.0.1")
        port = int(params.get("port") or 5432)
        if host.startswith("/"):
            self._family = socket.AF_UNIX
            self._target: str | tuple[str, int] = f"{host}/.s.PGSQL.{port}"
        else:
            self._family = socket.AF_INET
            self._target = (host, port)
        self._url = url
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._up = threading.Event()
        self._up.set()
        self._closed = False
        self._acceptor = threading.Thread(target=self._accept, daemon=True)
        self._acceptor.start()

    @property
    def url(self) -> str:
        """The database URL, pointed at this proxy."""
        return make_conninfo(self._url, host="127.0.0.1", port=str(self.port))

    def cut(self) -> None:
        """Reset every connection through the proxy and refuse new ones."""
        self._up.clear()
        with self._lock:
            victims = list(self._open)
            self._open.clear()
        for s in victims:
            _reset(s)

    def restore(self) -> None:
        """Let connections through again."""
        self._up.set()

    def close(self) -> None:
        """Stop listening and drop everything."""
        self._closed = True
        self.cut()
        # accept() does not return when another thread closes the socket: wake it.
        with contextlib.suppress(OSError):
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
        self._listener.close()
        self._acceptor.join(timeout=5)

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if not self._up.is_set():
                _reset(client)  # the server is "down": the client sees the connection fail
                continue
            upstream = socket.socket(self._family, socket.SOCK_STREAM)
            try:
                upstream.connect(self._target)
            except OSError:
                _reset(client)
                upstream.close()
                continue
            with self._lock:
                self._open.update((client, upstream))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while chunk := src.recv(65536):
                dst.sendall(chunk)
        except OSError:
            pass
        finally:
            with self._lock:
                self._open.discard(src)
                self._open.discard(dst)
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()


def _reset(s: socket.socket) -> None:
    """Drop a connection; shutdown() also wakes the pump blocked reading it."""
    with contextlib.suppress(OSError):
        s.shutdown(socket.SHUT_RDWR)
    s.close()
