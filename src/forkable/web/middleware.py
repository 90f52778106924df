"""ASGI middleware: security headers on every response, and site routing by Host."""

from __future__ import annotations

import json

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from forkable.sites import SiteRegistry

# Paths that answer on every host: load balancers and scrapers call them by address.
HOST_INDEPENDENT_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "img-src 'self' data: blob:",
        "style-src 'self'",
        "script-src 'self'",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


def security_headers(*, hsts: bool) -> list[tuple[str, str]]:
    """The headers every response carries; HSTS only where HTTPS is certain (production)."""
    headers = [
        ("content-security-policy", CONTENT_SECURITY_POLICY),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "strict-origin-when-cross-origin"),
        ("x-frame-options", "DENY"),
        ("cross-origin-opener-policy", "same-origin"),
        ("permissions-policy", "camera=(), microphone=(), geolocation=(), interest-cohort=()"),
    ]
    if hsts:
        headers.append(("strict-transport-security", "max-age=63072000; includeSubDomains"))
    return headers


class SecurityHeadersMiddleware:
    """Adds the security headers to every response that passes through it."""

    def __init__(self, app: ASGIApp, *, hsts: bool) -> None:
        self.app = app
        self.headers = security_headers(hsts=hsts)
        # Encoded once: a response's headers are raw bytes, and this runs on every response
        # (it was a fifth of the landing page's cost, docs/benchmarks.md).
        self._raw = [(name.encode(), value.encode()) for name, value in self.headers]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                raw = list(message.get("headers", ()))
                present = {bytes(name).lower() for name, _value in raw}
                raw.extend(pair for pair in self._raw if pair[0] not in present)
                message["headers"] = raw
            await send(message)

        await self.app(scope, receive, send_with_headers)


class SiteRoutingMiddleware:
    """Puts the site a request's Host names into ``request.state.site``; 404 for unknown hosts."""

    def __init__(self, app: ASGIApp, *, registry: SiteRegistry) -> None:
        self.app = app
        self.registry = registry

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        site = self.registry.for_host(Headers(scope=scope).get("host"))
        scope.setdefault("state", {})["site"] = site
        if site is None and scope["path"] not in HOST_INDEPENDENT_PATHS:
            await _unknown_host(scope, send)
            return
        await self.app(scope, receive, send)


async def _unknown_host(scope: Scope, send: Send) -> None:
    message = "No site is served at this host name."
    if scope["path"].startswith("/api/"):
        body = json.dumps({"error": {"code": "unknown_host", "message": message}}).encode()
        content_type = b"application/json"
    else:
        body = (
            "<!doctype html><html lang=en><meta charset=utf-8><title>Not found</title>"
            f"<h1>Not found</h1><p>{message}</p></html>"
        ).encode()
        content_type = b"text/html; charset=utf-8"
    await send(
        {
            "type": "http.response.start",
            "status": 404,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
