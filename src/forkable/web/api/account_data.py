"""A user's own data: the export (`GET /me/export`) and the erasure (`DELETE /me`).

Neither takes a user id: both act on the caller, so no id or session of one user can reach
another's data, on this site or any other.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field

from forkable.account_data.erase import (
    Requester,
    StillWorking,
    UnknownUser,
    WrongPassword,
    check_password,
    erase_account,
)
from forkable.account_data.export import export_filename, plan_export, stream_export
from forkable.accounts import throttle
from forkable.accounts.passwords import PasswordsBusy
from forkable.db.types import utcnow
from forkable.web.api.schemas import BODY, errors
from forkable.web.auth import SESSION_REQUIRED, CurrentUser, SessionUser, clear_session_cookie
from forkable.web.client_ip import client_host
from forkable.web.deps import ServicesDep, SiteDep
from forkable.web.errors import ApiError, refused

router = APIRouter(tags=["your data"])
BUSY_RETRY_AFTER = 1


class DeleteAccountIn(BaseModel):
    password: str = Field(max_length=1024, description="The account's current password.")


class DeletionOut(BaseModel):
    """The answer when the account is erased but some files are still to delete."""

    deleted: bool = True
    files_pending: int
    message: str


def mail_base_url(request: Request, services: ServicesDep, site: SiteDep) -> str:
    # Production mails link to the site's own domain; development to the host it runs on.
    if services.settings.is_production:
        return f"https://{site.manifest.site.domain}"
    return str(request.base_url)


@router.get(
    "/me/export",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {"application/zip": {}},
            "description": "A zip: account.json (profile, ledger, purchases, generations) "
            "and the photos and results still stored.",
        },
        **errors(401, 404),
    },
)
def export_me(principal: CurrentUser, services: ServicesDep, site: SiteDep) -> StreamingResponse:
    try:
        plan = plan_export(services.database, site_id=site.id, user_id=principal.user_id)
    except UnknownUser:
        raise ApiError(404, "not_found", "No such account.") from None
    filename = export_filename(site.id, utcnow())
    return StreamingResponse(
        stream_export(services.store, plan),
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )


@router.delete(
    "/me",
    status_code=204,
    responses={
        202: {
            "model": DeletionOut,
            "description": "The account is erased, but some files could not be deleted from "
            "storage yet; they are deleted by a later run.",
        },
        **errors(
            401,
            403,
            *BODY,
            409,
            422,
            429,
            503,
            said={
                403: "`wrong_password`: the password is not the account's (nothing deleted); "
                + SESSION_REQUIRED,
                409: "An image is still being made: delete the account when it has finished.",
            },
        ),
    },
)
def delete_me(
    body: DeleteAccountIn,
    request: Request,
    principal: SessionUser,
    services: ServicesDep,
    site: SiteDep,
) -> Response:
    # Counted as a login attempt: a stolen session cannot guess the password here either.
    try:
        attempt = throttle.admit_login(
            services.limiter, site_id=site.id, email=principal.email, ip=client_host(request)
        )
    except throttle.Throttled as exc:
        message = "Too many attempts. Wait a few minutes and try again."
        raise refused(throttle.Throttled, message, exc.retry_after) from None
    try:
        check_password(
            services.database,
            services.passwords,
            site_id=site.id,
            user_id=principal.user_id,
            password=body.password,
        )
    except WrongPassword:
        raise ApiError(403, "wrong_password", "That is not your password.") from None
    except PasswordsBusy:
        attempt.give_back()
        message = "The server is busy. Try again in a moment."
        raise refused(PasswordsBusy, message, BUSY_RETRY_AFTER) from None
    attempt.succeeded()
    try:
        erasure = erase_account(
            services.database,
            services.store,
            site,
            user_id=principal.user_id,
            requester=Requester(by="self", actor="self"),
            base_url=mail_base_url(request, services, site),
        )
    except UnknownUser:
        raise ApiError(404, "not_found", "No such account.") from None
    except StillWorking:
        raise ApiError(
            409,
            "images_in_progress",
            "An image is still being made. Delete your account when it has finished.",
        ) from None
    response: Response
    if erasure.complete:
        response = Response(status_code=204)
    else:
        out = DeletionOut(
            files_pending=erasure.files_pending,
            message=(
                f"Your account is deleted. {erasure.files_pending} file(s) could not be "
                "deleted from storage yet; they will be deleted automatically."
            ),
        )
        response = JSONResponse(out.model_dump(), status_code=202)
    clear_session_cookie(response, services.settings)
    return response
