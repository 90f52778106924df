"""Who is asking: the session cookie or an API key, and CSRF checks for cookie requests.

What each may do is decided here, by the dependency a route asks for:

- `CurrentUser`: a session or an API key. Keys make and read images, read the ledger,
  purchases and /me: what scripts need.
- `SessionUser`: a session only; an API key gets 403 `session_required`. For managing API
  keys, changing the account, buying, and (through `AdminUser`) everything an admin does, so a
  leaked key can neither outlive its revocation nor act with an admin's power.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Response
from fastapi.concurrency import run_in_threadpool

from forkable.accounts.service import (
    SESSION_LIFETIME,
    NewSession,
    Principal,
    principal_from_api_key,
    principal_from_session,
)
from forkable.accounts.tokens import same
from forkable.settings import Settings
from forkable.web.deps import ServicesDep, SiteDep
from forkable.web.errors import ApiError

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"


def cookie_name(settings: Settings) -> str:
    # __Host- makes browsers insist on Secure, Path=/ and no Domain: no subdomain can set it.
    return "__Host-forkable_session" if settings.is_production else "forkable_session"


def set_session_cookie(response: Response, settings: Settings, created: NewSession) -> None:
    response.set_cookie(
        cookie_name(settings),
        created.token,
        max_age=int(SESSION_LIFETIME.total_seconds()),
        path="/",
        secure=settings.is_production,
        httponly=True,
        samesite="lax",
    )


def clear_session_cookie(response: Response, settings: Settings) -> None:
    response.delete_cookie(
        cookie_name(settings),
        path="/",
        secure=settings.is_production,
        httponly=True,
        samesite="lax",
    )


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


async def optional_principal(
    request: Request, services: ServicesDep, site: SiteDep
) -> Principal | None:
    """The caller, or None. A bad API key is an error, not an anonymous request.

    Requests without credentials cost nothing here; lookups run in the thread pool.
    """
    if hasattr(request.state, "principal"):
        cached: Principal | None = request.state.principal
        return cached
    principal: Principal | None = None
    key = _bearer(request)
    if key is not None:
        principal = await run_in_threadpool(
            principal_from_api_key, services.database, site_id=site.id, key=key
        )
        if principal is None:
            raise ApiError(401, "invalid_api_key", "This API key is not valid for this site.")
    else:
        token = request.cookies.get(cookie_name(services.settings))
        if token:
            principal = await run_in_threadpool(
                principal_from_session, services.database, site_id=site.id, token=token
            )
    request.state.principal = principal
    return principal


OptionalPrincipal = Annotated[Principal | None, Depends(optional_principal)]


async def lenient_principal(
    request: Request, services: ServicesDep, site: SiteDep
) -> Principal | None:
    """Like optional_principal, but a key that is not valid here counts as no key.

    Owner-only resources answer 404 to everyone else, including holders of another site's key.
    """
    try:
        return await optional_principal(request, services, site)
    except ApiError:
        return None


LenientPrincipal = Annotated[Principal | None, Depends(lenient_principal)]


async def require_principal(request: Request, principal: OptionalPrincipal) -> Principal:
    """The signed-in caller; 401 otherwise. Unsafe cookie requests must carry the CSRF token."""
    if principal is None:
        raise ApiError(401, "unauthorized", "Sign in first.")
    if principal.via == "session" and request.method not in _SAFE_METHODS:
        await check_csrf(request, principal)
    return principal


async def check_csrf(request: Request, principal: Principal) -> None:
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
        "application/x-www-form-urlencoded"
    ):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not sent or not principal.csrf_token or not same(sent, principal.csrf_token):
        raise ApiError(
            403,
            "csrf_failed",
            "The form expired or came from another site. Reload the page and try again.",
        )


CurrentUser = Annotated[Principal, Depends(require_principal)]

SESSION_REQUIRED_MESSAGE = "API keys cannot do this. Sign in on the website and do it there."
# The 403 of session-only routes in the OpenAPI document, so it says why a key gets it.
SESSION_REQUIRED = (
    "`session_required`: API keys cannot do this, only a signed-in browser session can "
    "(or `csrf_failed`: the session's CSRF token is missing)."
)


def refuse_api_key(principal: Principal) -> None:
    """403 `session_required` unless ``principal`` signed in with a session cookie."""
    if principal.via != "session":
        raise ApiError(403, "session_required", SESSION_REQUIRED_MESSAGE)


async def require_session(principal: CurrentUser) -> Principal:
    """The caller signed in with a session cookie (CSRF checked); an API key gets 403."""
    refuse_api_key(principal)
    return principal


SessionUser = Annotated[Principal, Depends(require_session)]


async def require_admin(principal: SessionUser) -> Principal:
    if not principal.is_admin:
        raise ApiError(403, "forbidden", "Only administrators can do this.")
    return principal


AdminUser = Annotated[Principal, Depends(require_admin)]


def same_origin(request: Request) -> bool:
    """False when the browser says the request came from another origin."""
    origin = request.headers.get("origin")
    if not origin or origin == "null":
        return origin is None
    host = request.headers.get("host", "")
    return origin.split("://", 1)[-1] == host
