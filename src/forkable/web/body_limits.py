"""Request bodies: a size cap on every route and a deadline for the body to arrive.

Without them one client could make the server hold a 100 MB login body in memory, or keep a
connection (and its task) open forever by declaring a body and never sending it.

Capped routes have their body read here, before the app runs: a declared Content-Length over
the cap is refused at once (413, before a byte is read, so `Expect: 100-continue` clients send
nothing), a body without one is counted as it arrives and refused past the cap, and a body
still incomplete at the deadline is refused with 408. Either refusal closes the connection,
whose unread rest could not be parsed as the next request. The upload route streams its body
through its own multipart parser, which enforces the site's `max_upload_mb` as it reads; here
it only gets the deadline, four times as long, since photos are larger than JSON.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from forkable.web.errors import error_response

# JSON bodies and forms: a login, a checkout or an admin form is a few hundred bytes.
DEFAULT_BODY_LIMIT = 64 * 1024
# Stripe's event objects (a checkout session with its line items) run to tens of kilobytes.
WEBHOOK_BODY_LIMIT = 1024 * 1024
# Routes whose cap differs from the default; None: the route caps the body as it streams it.
ROUTE_BODY_LIMITS: Mapping[tuple[str, str], int | None] = {
    ("POST", "/api/v1/generations"): None,
    ("POST", "/api/v1/webhooks/stripe"): WEBHOOK_BODY_LIMIT,
}
# A streamed upload may take this many times the deadline of other bodies.
UPLOAD_DEADLINE_FACTOR = 4
_CLOSE = {"connection": "close"}


class _BodyTimeout(Exception):
    """A streamed body was not complete by its deadline."""


class BodyLimitMiddleware:
    """Caps request bodies and the time they take to arrive (pure ASGI, inside routing)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        timeout_seconds: float,
        default_limit: int = DEFAULT_BODY_LIMIT,
        route_limits: Mapping[tuple[str, str], int | None] = ROUTE_BODY_LIMITS,
    ) -> None:
        self.app = app
        self.timeout_seconds = timeout_seconds
        self.default_limit = default_limit
        self.route_limits = route_limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        has_body, declared = _declared_body(scope)
        if not has_body:
            await self.app(scope, receive, send)  # nothing to wait for or to count
            return
        key = (scope["method"], scope["path"])
        if key in self.route_limits and self.route_limits[key] is None:
            await self._streamed(scope, receive, send)
            return
        limit = self.route_limits.get(key, self.default_limit) or self.default_limit
        if declared is not None and declared > limit:
            await _refuse_too_large(scope, receive, send, limit)
            return
        chunks: list[bytes] = []
        size = 0
        too_large = False
        try:
            async with asyncio.timeout(self.timeout_seconds):
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        return  # the client left: nobody to answer
                    chunk: bytes = message.get("body", b"")
                    size += len(chunk)
                    if size > limit:
                        too_large = True
                        break
                    chunks.append(chunk)
                    if not message.get("more_body", False):
                        break
        except TimeoutError:
            await _refuse_late(scope, receive, send)
            return
        if too_large:
            await _refuse_too_large(scope, receive, send, limit)
            return
        await self.app(scope, _replay(b"".join(chunks), receive), send)

    async def _streamed(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the body through as the route reads it, within the upload deadline."""
        deadline = asyncio.get_running_loop().time() + (
            self.timeout_seconds * UPLOAD_DEADLINE_FACTOR
        )
        complete = False
        started = False

        async def receive_in_time() -> Message:
            nonlocal complete
            if complete:
                return await receive()  # after the body: waiting for a disconnect is fine
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise _BodyTimeout from None
            if message["type"] != "http.request" or not message.get("more_body", False):
                complete = True
            return message

        async def send_noting_start(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive_in_time, send_noting_start)
        except _BodyTimeout:
            if started:
                raise
            await _refuse_late(scope, receive, send)


def _declared_body(scope: Scope) -> tuple[bool, int | None]:
    """Whether the request has a body, and its declared length when it says one."""
    has_body = False
    declared: int | None = None
    for name, value in scope["headers"]:
        if name == b"content-length":
            has_body = True
            if value.isdigit():
                # Past 18 digits it is surely too large (and int() refuses thousands of them).
                declared = int(value) if len(value) <= 18 else 10**18
        elif name == b"transfer-encoding":
            has_body = True
    return has_body, declared


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that hands the app the body read here, then the client's later messages."""
    given = False

    async def replay() -> Message:
        nonlocal given
        if given:
            return await receive()
        given = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


async def _refuse_too_large(scope: Scope, receive: Receive, send: Send, limit: int) -> None:
    kib = math.ceil(limit / 1024)
    message = f"The request body is too large: this address takes at most {kib} KiB."
    request = Request(scope, receive)
    await error_response(request, 413, "too_large", message, _CLOSE)(scope, receive, send)


async def _refuse_late(scope: Scope, receive: Receive, send: Send) -> None:
    message = "The request body did not arrive in time. Please try again."
    request = Request(scope, receive)
    await error_response(request, 408, "request_timeout", message, _CLOSE)(scope, receive, send)
