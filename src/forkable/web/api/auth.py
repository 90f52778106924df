"""Sign-up, login, logout and the current user.

Routes that touch the database are plain `def`: FastAPI runs them in its thread pool, so a
query never blocks the event loop.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from starlette.responses import JSONResponse

from forkable.accounts import throttle
from forkable.accounts.emails import InvalidEmail, normalise_email
from forkable.accounts.passwords import PasswordsBusy, WeakPassword
from forkable.accounts.service import (
    EmailTaken,
    InvalidCredentials,
    Principal,
    authenticate,
    check_signup,
    create_user,
    end_session,
    start_session,
)
from forkable.accounts.tokens import token_hash
from forkable.ledger.book import get_balance
from forkable.web.api.schemas import BODY, AuthOut, Credentials, UserOut, errors
from forkable.web.auth import (
    CurrentUser,
    clear_session_cookie,
    cookie_name,
    same_origin,
    set_session_cookie,
)
from forkable.web.client_ip import client_host
from forkable.web.deps import ServicesDep, SiteDep
from forkable.web.errors import ApiError, refused

router = APIRouter(tags=["auth"])
# Seconds a refused login or sign-up waits: hashes take a fraction of one.
BUSY_RETRY_AFTER = 1


def user_out(services: ServicesDep, principal: Principal) -> UserOut:
    with services.database.session() as session:
        balance = get_balance(session, principal.user_id)
    return UserOut(
        id=principal.user_id,
        email=principal.email,
        balance=balance.available,
        held=balance.held,
        is_admin=principal.is_admin,
    )


def _check_origin(request: Request) -> None:
    # Cross-site forms cannot send JSON, and browsers name their origin: refuse other origins.
    if not same_origin(request):
        raise ApiError(403, "cross_origin", "This request came from another site.")


def _busy() -> ApiError:
    # Password hashing slots bound memory (64 MiB each); a request that found none answers
    # after a short wait rather than queueing without bound. Nothing was checked or counted.
    return refused(PasswordsBusy, "The server is busy. Try again in a moment.", BUSY_RETRY_AFTER)


_CROSS_ORIGIN = "Sent from another site's page (its Origin is not this site)."


@router.post(
    "/auth/signup",
    status_code=201,
    response_model=AuthOut,
    responses=errors(
        403,
        *BODY,
        409,
        422,
        429,
        503,
        said={
            403: _CROSS_ORIGIN,
            409: "An account with this e-mail exists already.",
            422: "Not an e-mail address, or a weak password.",
            429: "Too many sign-ups from this network.",
        },
    ),
)
def signup(
    body: Credentials, request: Request, services: ServicesDep, site: SiteDep
) -> JSONResponse:
    _check_origin(request)
    try:
        check_signup(body.email, body.password)
    except InvalidEmail as exc:
        raise refused(InvalidEmail, str(exc)) from None
    except WeakPassword as exc:
        raise refused(WeakPassword, str(exc)) from None
    # Counted before any lookup or hash: taken addresses count too.
    try:
        attempt = throttle.admit_signup(services.limiter, site_id=site.id, ip=client_host(request))
    except throttle.Throttled as exc:
        message = "Too many sign-ups from your network. Try again later."
        raise refused(throttle.Throttled, message, exc.retry_after) from None
    try:
        user = create_user(
            services.database,
            services.passwords,
            site_id=site.id,
            email=body.email,
            password=body.password,
            signup_bonus=site.manifest.pricing.signup_bonus,
        )
    except EmailTaken:
        message = "An account with this e-mail already exists. Log in instead."
        raise refused(EmailTaken, message) from None
    except PasswordsBusy:
        attempt.give_back()
        raise _busy() from None
    services.metrics.record_signup(site.id)
    created = start_session(services.database, user=user)
    principal = Principal(
        user.id, site.id, user.email, user.is_admin, "session", created.csrf_token
    )
    body_out = AuthOut(user=user_out(services, principal), csrf_token=created.csrf_token)
    response = JSONResponse(body_out.model_dump(mode="json"), status_code=201)
    set_session_cookie(response, services.settings, created)
    return response


@router.post(
    "/auth/login",
    response_model=AuthOut,
    responses=errors(
        401,
        403,
        *BODY,
        422,
        429,
        503,
        said={
            401: "Wrong e-mail or password.",
            403: _CROSS_ORIGIN,
            429: "Too many attempts: wait for Retry-After seconds.",
        },
    ),
)
def login(
    body: Credentials, request: Request, services: ServicesDep, site: SiteDep
) -> JSONResponse:
    _check_origin(request)
    try:
        email = normalise_email(body.email)
    except InvalidEmail:
        email = body.email.strip().lower()
    # Counted before the password is checked, so parallel guesses cannot pass the limit.
    try:
        attempt = throttle.admit_login(
            services.limiter, site_id=site.id, email=email, ip=client_host(request)
        )
    except throttle.Throttled as exc:
        services.metrics.record_login(site.id, "throttled")
        message = "Too many attempts. Wait a few minutes and try again."
        raise refused(throttle.Throttled, message, exc.retry_after) from None
    try:
        user = authenticate(
            services.database,
            services.passwords,
            site_id=site.id,
            email=body.email,
            password=body.password,
        )
    except InvalidCredentials:
        services.metrics.record_login(site.id, "failure")
        raise refused(InvalidCredentials, "Wrong e-mail or password.") from None
    except PasswordsBusy:
        attempt.give_back()
        services.metrics.record_login(site.id, "throttled")  # refused unchecked, as throttled
        raise _busy() from None
    attempt.succeeded()
    services.metrics.record_login(site.id, "success")
    # Rotate: whatever session this browser had is replaced by a new one.
    old = request.cookies.get(cookie_name(services.settings))
    created = start_session(services.database, user=user, replaces=token_hash(old) if old else None)
    principal = Principal(
        user.id, site.id, user.email, user.is_admin, "session", created.csrf_token
    )
    body_out = AuthOut(user=user_out(services, principal), csrf_token=created.csrf_token)
    response = JSONResponse(body_out.model_dump(mode="json"))
    set_session_cookie(response, services.settings, created)
    return response


@router.post("/auth/logout", status_code=204, responses=errors(401, 403))
def logout(principal: CurrentUser, services: ServicesDep) -> Response:
    if principal.session_hash:
        end_session(services.database, principal.session_hash)
    response = Response(status_code=204)
    clear_session_cookie(response, services.settings)
    return response


@router.get("/me", response_model=UserOut, responses=errors(401))
def me(principal: CurrentUser, services: ServicesDep) -> UserOut:
    return user_out(services, principal)
