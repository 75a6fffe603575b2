"""A request body that stops arriving is answered 408, not waited for forever.

Uvicorn times out idle keep-alive connections, not a request whose body
stalls: a client that sends headers and half a body holds a connection (and,
for an upload, a spooled file) for as long as it likes. This pure ASGI
middleware bounds the wait for each chunk of the body. The bound is per
chunk, not per request, so a large upload on a slow but live link still
goes through. Once the body is complete, ``receive()`` only waits for the
client to disconnect, and that wait is left alone.
"""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyTimeout(Exception):
    """The client stopped sending its request body."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"no request body data for {seconds:g} s")
        self.seconds = seconds


class BodyTimeoutMiddleware:
    """Raise ``BodyTimeout`` (rendered as 408) when a body chunk takes over ``seconds``."""

    def __init__(self, app: ASGIApp, *, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on with a ``receive`` that gives up on a stalled body."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body_done = False

        async def timed_receive() -> Message:
            nonlocal body_done
            if body_done:
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), self.seconds)
            except TimeoutError:
                raise BodyTimeout(self.seconds) from None
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_done = True
            return message

        await self.app(scope, timed_receive, send)
