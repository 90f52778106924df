"""Sign-up, login, logout and the current user; verifying an address, resetting and changing
the password, changing the address.

Routes that touch the database are plain `def`: FastAPI runs them in its thread pool, so a
query never blocks the event loop.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from starlette.responses import JSONResponse

from forkable.accounts import credentials, throttle, verification
from forkable.accounts.emails import InvalidEmail, normalise_email
from forkable.accounts.links import BAD_LINK_MESSAGE, BadLink
from forkable.accounts.passwords import PasswordsBusy, WeakPassword
from forkable.accounts.service import (
    EmailTaken,
    InvalidCredentials,
    Principal,
    authenticate,
    check_signup,
    end_session,
    start_session,
)
from forkable.accounts.tokens import token_hash
from forkable.ledger.book import get_balance
from forkable.web.account_links import links_base_url, remember_dev_link
from forkable.web.api.schemas import (
    BODY,
    AcceptedOut,
    AuthOut,
    Credentials,
    EmailChangeIn,
    PasswordChangeIn,
    ResetConfirmIn,
    ResetRequestIn,
    TokenIn,
    UserOut,
    VerifiedOut,
    errors,
)
from forkable.web.auth import (
    CurrentUser,
    SessionUser,
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
        signed_up = verification.sign_up(
            services.database,
            services.passwords,
            site,
            email=body.email,
            password=body.password,
            base_url=links_base_url(request, services, site),
        )
    except EmailTaken:
        message = "An account with this e-mail already exists. Log in instead."
        raise refused(EmailTaken, message) from None
    except PasswordsBusy:
        attempt.give_back()
        raise _busy() from None
    services.metrics.record_signup(site.id)
    user = signed_up.user
    created = start_session(services.database, user=user)
    principal = Principal(
        user.id, site.id, user.email, user.is_admin, "session", created.csrf_token
    )
    body_out = AuthOut(user=user_out(services, principal), csrf_token=created.csrf_token)
    response = JSONResponse(body_out.model_dump(mode="json"), status_code=201)
    set_session_cookie(response, services.settings, created)
    remember_dev_link(response, services.settings, signed_up.link)
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


@router.post(
    "/auth/verify-email",
    response_model=VerifiedOut,
    responses=errors(
        400,
        403,
        *BODY,
        409,
        422,
        said={
            400: BAD_LINK_MESSAGE,
            403: _CROSS_ORIGIN,
            409: "Another account took the new address meanwhile.",
        },
    ),
)
def verify_email(
    body: TokenIn, request: Request, services: ServicesDep, site: SiteDep
) -> VerifiedOut:
    """Use the link mailed at sign-up (the address is verified and a waiting sign-up bonus is
    granted, once) or the link confirming a new address (it becomes the account's)."""
    _check_origin(request)
    try:
        done = verification.verify(
            services.database,
            site,
            body.token,
            base_url=links_base_url(request, services, site),
        )
    except BadLink:
        raise refused(BadLink, BAD_LINK_MESSAGE) from None
    except EmailTaken:
        raise refused(EmailTaken, "Another account uses this address now.") from None
    return VerifiedOut(
        email=done.email, changed=done.old_email is not None, bonus_granted=done.bonus_granted
    )


@router.post(
    "/auth/verify-email/resend",
    status_code=202,
    response_model=AcceptedOut,
    responses=errors(401, 403, 429, said={429: "Asked too often: wait for Retry-After seconds."}),
)
def resend_verification(
    principal: SessionUser, request: Request, services: ServicesDep, site: SiteDep
) -> JSONResponse:
    """Mail a new verification link to the signed-in user's address."""
    try:
        throttle.admit_verify_resend(services.limiter, site_id=site.id, user_id=principal.user_id)
    except throttle.Throttled as exc:
        message = "A link was sent a moment ago. Wait a little before asking again."
        raise refused(throttle.Throttled, message, exc.retry_after) from None
    link = verification.resend(
        services.database,
        site,
        principal.user_id,
        base_url=links_base_url(request, services, site),
    )
    message = (
        f"A new link is on its way to {principal.email}."
        if link
        else "Your address is verified already."
    )
    response = JSONResponse(AcceptedOut(message=message).model_dump(), status_code=202)
    remember_dev_link(response, services.settings, link)
    return response


_RESET_ACCEPTED = (
    "If an account uses this address, a link to choose a new password is on its way. "
    "It works once, for one hour."
)


@router.post(
    "/auth/password-reset",
    status_code=202,
    response_model=AcceptedOut,
    responses=errors(403, *BODY, 422, 429, said={403: _CROSS_ORIGIN}),
)
def request_password_reset(
    body: ResetRequestIn, request: Request, services: ServicesDep, site: SiteDep
) -> AcceptedOut:
    """Mail a single-use link (valid one hour) to the address if an account uses it; the
    answer is the same whether or not one does."""
    _check_origin(request)
    try:
        email = normalise_email(body.email)
    except InvalidEmail:
        email = body.email.strip().lower()
    try:
        throttle.admit_password_reset(
            services.limiter, site_id=site.id, email=email, ip=client_host(request)
        )
    except throttle.Throttled as exc:
        message = "Too many requests for a new password. Try again later."
        raise refused(throttle.Throttled, message, exc.retry_after) from None
    credentials.request_password_reset(
        services.database, site, email=email, base_url=links_base_url(request, services, site)
    )
    return AcceptedOut(message=_RESET_ACCEPTED)


@router.post(
    "/auth/password-reset/confirm",
    response_model=AcceptedOut,
    responses=errors(
        400, 403, *BODY, 422, 503, said={400: BAD_LINK_MESSAGE, 422: "A weak password."}
    ),
)
def confirm_password_reset(
    body: ResetConfirmIn, request: Request, services: ServicesDep, site: SiteDep
) -> JSONResponse:
    """Set a new password with the mailed link: every session of the account ends (this
    browser's too); API keys keep working."""
    _check_origin(request)
    try:
        credentials.reset_password(
            services.database,
            services.passwords,
            site,
            token=body.token,
            new_password=body.password,
            base_url=links_base_url(request, services, site),
        )
    except BadLink:
        raise refused(BadLink, BAD_LINK_MESSAGE) from None
    except WeakPassword as exc:
        raise refused(WeakPassword, str(exc)) from None
    except PasswordsBusy:
        raise _busy() from None
    message = "Your password is changed. Log in with the new one."
    response = JSONResponse(AcceptedOut(message=message).model_dump())
    clear_session_cookie(response, services.settings)
    return response


_WRONG_PASSWORD = "Your current password is not right."  # noqa: S105 (a message)


def _admit_password_check(services: ServicesDep, site: SiteDep, principal: Principal) -> None:
    try:
        throttle.admit_password_check(services.limiter, site_id=site.id, user_id=principal.user_id)
    except throttle.Throttled as exc:
        message = "Too many attempts. Wait a few minutes and try again."
        raise refused(throttle.Throttled, message, exc.retry_after) from None


@router.post(
    "/me/password",
    response_model=AcceptedOut,
    responses=errors(
        401,
        403,
        *BODY,
        422,
        429,
        503,
        said={403: f"`wrong_password`: {_WRONG_PASSWORD}", 422: "A weak new password."},
    ),
)
def change_password(
    body: PasswordChangeIn,
    principal: SessionUser,
    request: Request,
    services: ServicesDep,
    site: SiteDep,
) -> AcceptedOut:
    """Change the password: the account's other sessions end, this one stays; API keys stay."""
    _admit_password_check(services, site, principal)
    try:
        credentials.change_password(
            services.database,
            services.passwords,
            site,
            principal,
            current_password=body.current_password,
            new_password=body.new_password,
            base_url=links_base_url(request, services, site),
        )
    except credentials.WrongPassword:
        raise refused(credentials.WrongPassword, _WRONG_PASSWORD) from None
    except WeakPassword as exc:
        raise refused(WeakPassword, str(exc)) from None
    except PasswordsBusy:
        raise _busy() from None
    return AcceptedOut(message="Your password is changed. Other browsers were signed out.")


@router.post(
    "/me/email",
    status_code=202,
    response_model=AcceptedOut,
    responses=errors(
        401,
        403,
        *BODY,
        409,
        422,
        429,
        503,
        said={
            403: f"`wrong_password`: {_WRONG_PASSWORD}",
            409: "Another account uses this address.",
            422: "Not an e-mail address, or the account's address already.",
        },
    ),
)
def change_email(
    body: EmailChangeIn,
    principal: SessionUser,
    request: Request,
    services: ServicesDep,
    site: SiteDep,
) -> AcceptedOut:
    """Mail a confirmation link to the new address; the address changes when it is used
    (`POST /auth/verify-email`), and the old address is told."""
    _admit_password_check(services, site, principal)
    try:
        throttle.admit_email_change(services.limiter, site_id=site.id, user_id=principal.user_id)
    except throttle.Throttled as exc:
        message = "Too many address changes. Try again later."
        raise refused(throttle.Throttled, message, exc.retry_after) from None
    try:
        credentials.request_email_change(
            services.database,
            services.passwords,
            site,
            principal,
            password=body.password,
            new_email=body.new_email,
            base_url=links_base_url(request, services, site),
        )
    except credentials.WrongPassword:
        raise refused(credentials.WrongPassword, _WRONG_PASSWORD) from None
    except InvalidEmail as exc:
        raise refused(InvalidEmail, str(exc)) from None
    except credentials.SameEmail as exc:
        raise refused(credentials.SameEmail, str(exc)) from None
    except EmailTaken:
        raise refused(EmailTaken, "Another account uses this address.") from None
    except PasswordsBusy:
        raise _busy() from None
    return AcceptedOut(
        message=f"Open the link we mailed to {normalise_email(body.new_email)} to confirm it. "
        "Until then your account keeps its current address."
    )
