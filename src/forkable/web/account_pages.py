"""Pages for signed-in visitors: sign-up, login, the app, the account; logout."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from forkable.accounts.service import end_session
from forkable.web.auth import OptionalPrincipal, check_csrf, clear_session_cookie
from forkable.web.deps import ServicesDep, SiteDep
from forkable.web.templating import render
from forkable.web.visitor import visitor_context

router = APIRouter(include_in_schema=False)


def _to_login(next_path: str) -> Response:
    return RedirectResponse(f"/login?next={next_path}", status_code=303)


@router.get("/signup")
async def signup_page(request: Request, site: SiteDep, principal: OptionalPrincipal) -> Response:
    if principal is not None:
        return RedirectResponse("/app", status_code=303)
    return render(request, "signup.html", site, {"principal": None})


@router.get("/login")
async def login_page(request: Request, site: SiteDep, principal: OptionalPrincipal) -> Response:
    if principal is not None:
        return RedirectResponse("/app", status_code=303)
    return render(request, "login.html", site, {"principal": None})


@router.get("/app")
async def app_page(
    request: Request, site: SiteDep, services: ServicesDep, principal: OptionalPrincipal
) -> Response:
    if principal is None:
        return _to_login("/app")
    context = await visitor_context(services, principal)
    context["offline_preview"] = services.resolver.for_site(site).offline_preview
    return render(request, "app.html", site, context)


@router.get("/account")
async def account_page(
    request: Request, site: SiteDep, services: ServicesDep, principal: OptionalPrincipal
) -> Response:
    if principal is None:
        return _to_login("/account")
    return render(request, "account.html", site, await visitor_context(services, principal))


@router.get("/account/deleted")
async def account_deleted_page(request: Request, site: SiteDep) -> Response:
    """Where the account page's deletion lands: the session is gone, so anyone may see it."""
    return render(request, "account_deleted.html", site, {"principal": None})


@router.post("/logout")
async def logout_form(
    request: Request, services: ServicesDep, principal: OptionalPrincipal
) -> Response:
    """The header's log-out button: a form post carrying the CSRF token."""
    response = RedirectResponse("/", status_code=303)
    if principal is not None and principal.via == "session":
        await check_csrf(request, principal)
        if principal.session_hash:
            await run_in_threadpool(end_session, services.database, principal.session_hash)
    clear_session_cookie(response, services.settings)
    return response
