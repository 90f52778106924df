"""Pages for signed-in visitors: sign-up, login, the app, the account; logout. And the pages
of mailed links: verifying an address, a forgotten password, the account's security forms.

The link pages are plain HTML forms handled here (no script needed). A GET only shows a
button: mail scanners that follow links must not use a single-use link up.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from forkable.accounts import credentials, throttle, verification
from forkable.accounts.emails import InvalidEmail, normalise_email
from forkable.accounts.links import BAD_LINK_MESSAGE, BadLink
from forkable.accounts.passwords import PasswordsBusy, WeakPassword
from forkable.accounts.service import EmailTaken, Principal, end_session
from forkable.web.account_links import dev_link, links_base_url, remember_dev_link
from forkable.web.auth import OptionalPrincipal, check_csrf, clear_session_cookie, same_origin
from forkable.web.client_ip import client_host
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
    standing = await run_in_threadpool(
        verification.standing, services.database, site, principal.user_id
    )
    context["standing"] = standing
    context["verify_sent"] = request.query_params.get("verify") or ""
    context["dev_verify_link"] = None if standing.verified else dev_link(request, services.settings)
    return render(request, "app.html", site, context)


@router.get("/account")
async def account_page(
    request: Request, site: SiteDep, services: ServicesDep, principal: OptionalPrincipal
) -> Response:
    if principal is None:
        return _to_login("/account")
    context = await visitor_context(services, principal)
    context["security_done"] = request.query_params.get("done") or ""
    context["security_error"] = request.query_params.get("error") or ""
    return render(request, "account.html", site, context)


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


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value[:4096] if isinstance(value, str) else ""


def _page(request: Request, site: Any, name: str, **values: Any) -> Response:
    status = values.pop("status_code", 200)
    return render(request, name, site, {"principal": None, **values}, status_code=status)


@router.get("/verify-email")
async def verify_email_page(request: Request, site: SiteDep) -> Response:
    token = request.query_params.get("token", "")[:256]
    return _page(request, site, "verify_email.html", token=token, outcome=None)


@router.post("/verify-email")
async def verify_email_form(request: Request, site: SiteDep, services: ServicesDep) -> Response:
    form = await request.form()
    token = _text(form, "token")
    if not same_origin(request):
        return _page(
            request, site, "verify_email.html", token=token, outcome="cross_origin", status_code=403
        )
    try:
        done = await run_in_threadpool(
            verification.verify,
            services.database,
            site,
            token,
            base_url=links_base_url(request, services, site),
        )
    except BadLink:
        return _page(
            request,
            site,
            "verify_email.html",
            token="",
            outcome="bad",
            message=BAD_LINK_MESSAGE,
            status_code=400,
        )
    except EmailTaken:
        return _page(request, site, "verify_email.html", token="", outcome="taken", status_code=409)
    return _page(request, site, "verify_email.html", token="", outcome="ok", done=done)


@router.post("/verify-email/resend")
async def resend_verification_form(
    request: Request, site: SiteDep, services: ServicesDep, principal: OptionalPrincipal
) -> Response:
    """The app page's "send again" button."""
    if principal is None or principal.via != "session":
        return _to_login("/app")
    await check_csrf(request, principal)
    try:
        throttle.admit_verify_resend(services.limiter, site_id=site.id, user_id=principal.user_id)
    except throttle.Throttled as exc:
        return RedirectResponse(f"/app?verify=wait&seconds={exc.retry_after}", status_code=303)
    link = await run_in_threadpool(
        verification.resend,
        services.database,
        site,
        principal.user_id,
        base_url=links_base_url(request, services, site),
    )
    response = RedirectResponse("/app?verify=sent", status_code=303)
    remember_dev_link(response, services.settings, link)
    return response


@router.get("/forgot-password")
async def forgot_password_page(request: Request, site: SiteDep) -> Response:
    return _page(request, site, "forgot_password.html", sent=False, error=None)


@router.post("/forgot-password")
async def forgot_password_form(request: Request, site: SiteDep, services: ServicesDep) -> Response:
    form = await request.form()
    raw = _text(form, "email").strip()
    if not same_origin(request):
        return _page(
            request,
            site,
            "forgot_password.html",
            sent=False,
            error="This form came from another site.",
            status_code=403,
        )
    try:
        email = normalise_email(raw)
    except InvalidEmail:
        return _page(
            request,
            site,
            "forgot_password.html",
            sent=False,
            email=raw,
            error="Enter a valid e-mail address, like name@example.com.",
            status_code=422,
        )
    try:
        throttle.admit_password_reset(
            services.limiter, site_id=site.id, email=email, ip=client_host(request)
        )
    except throttle.Throttled as exc:
        response = _page(
            request,
            site,
            "forgot_password.html",
            sent=False,
            email=raw,
            error="Too many requests for a new password. Try again later.",
            status_code=429,
        )
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    await run_in_threadpool(
        credentials.request_password_reset,
        services.database,
        site,
        email=email,
        base_url=links_base_url(request, services, site),
    )
    return _page(request, site, "forgot_password.html", sent=True, email=email, error=None)


@router.get("/reset-password")
async def reset_password_page(request: Request, site: SiteDep) -> Response:
    token = request.query_params.get("token", "")[:256]
    return _page(request, site, "reset_password.html", token=token, done=False, error=None)


@router.post("/reset-password")
async def reset_password_form(request: Request, site: SiteDep, services: ServicesDep) -> Response:
    form = await request.form()
    token = _text(form, "token")
    password = _text(form, "password")
    if not same_origin(request):
        return _page(
            request,
            site,
            "reset_password.html",
            token=token,
            done=False,
            error="This form came from another site.",
            status_code=403,
        )
    try:
        await run_in_threadpool(
            credentials.reset_password,
            services.database,
            services.passwords,
            site,
            token=token,
            new_password=password,
            base_url=links_base_url(request, services, site),
        )
    except BadLink:
        return _page(
            request,
            site,
            "reset_password.html",
            token="",
            done=False,
            error=BAD_LINK_MESSAGE,
            status_code=400,
        )
    except WeakPassword as exc:
        return _page(
            request,
            site,
            "reset_password.html",
            token=token,
            done=False,
            error=str(exc),
            status_code=422,
        )
    except PasswordsBusy:
        return _page(
            request,
            site,
            "reset_password.html",
            token=token,
            done=False,
            error="The server is busy. Try again in a moment.",
            status_code=503,
        )
    response = _page(request, site, "reset_password.html", token="", done=True, error=None)
    clear_session_cookie(response, services.settings)
    return response


def _back_to_account(*, done: str = "", error: str = "") -> Response:
    query = f"done={quote(done)}" if done else f"error={quote(error)}"
    return RedirectResponse(f"/account?{query}#security", status_code=303)


# What each refusal of an account change shows on /account (`?error=`).
_CHANGE_REFUSALS: tuple[tuple[type[Exception], str], ...] = (
    (throttle.Throttled, "throttled"),
    (credentials.WrongPassword, "wrong_password"),
    (WeakPassword, "weak_password"),
    (InvalidEmail, "bad_email"),
    (credentials.SameEmail, "bad_email"),
    (EmailTaken, "email_taken"),
    (PasswordsBusy, "busy"),
)


async def _account_change(
    request: Request,
    principal: OptionalPrincipal,
    change: Callable[[FormData, Principal], object],
    *,
    done: str,
) -> Response:
    """A form on /account that needs the current password: signed in with a session, CSRF
    checked, ``change`` run off the event loop, then back to /account saying how it went."""
    if principal is None or principal.via != "session":
        return _to_login("/account")
    await check_csrf(request, principal)
    form = await request.form()
    try:
        await run_in_threadpool(change, form, principal)
    except Exception as exc:
        for refusal, error in _CHANGE_REFUSALS:
            if isinstance(exc, refusal):
                return _back_to_account(error=error)
        raise
    return _back_to_account(done=done)


@router.post("/account/password")
async def change_password_form(
    request: Request, site: SiteDep, services: ServicesDep, principal: OptionalPrincipal
) -> Response:
    base_url = links_base_url(request, services, site)

    def change(form: FormData, principal: Principal) -> None:
        throttle.admit_password_check(services.limiter, site_id=site.id, user_id=principal.user_id)
        credentials.change_password(
            services.database,
            services.passwords,
            site,
            principal,
            current_password=_text(form, "current_password"),
            new_password=_text(form, "new_password"),
            base_url=base_url,
        )

    return await _account_change(request, principal, change, done="password")


@router.post("/account/email")
async def change_email_form(
    request: Request, site: SiteDep, services: ServicesDep, principal: OptionalPrincipal
) -> Response:
    base_url = links_base_url(request, services, site)

    def change(form: FormData, principal: Principal) -> None:
        throttle.admit_password_check(services.limiter, site_id=site.id, user_id=principal.user_id)
        throttle.admit_email_change(services.limiter, site_id=site.id, user_id=principal.user_id)
        credentials.request_email_change(
            services.database,
            services.passwords,
            site,
            principal,
            password=_text(form, "password"),
            new_email=_text(form, "new_email"),
            base_url=base_url,
        )

    return await _account_change(request, principal, change, done="email")
