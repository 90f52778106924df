"""`GET /api/v1/internal/maintenance`: what background threads do, for hosts that have none.

Vercel Cron calls it (see the generated `vercel.json`) with `Authorization: Bearer
$CRON_SECRET`: expired leases go back to the queue or fail with their tokens returned, and a
few queued generations are made, media past retention is deleted and due mail is sent.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool

from forkable.accounts.tokens import same
from forkable.web.api.schemas import errors
from forkable.web.deps import ServicesDep
from forkable.web.errors import ApiError

router = APIRouter(tags=["operations"])
_JOBS_PER_CALL = 3


@router.get(
    "/internal/maintenance",
    responses=errors(
        401,
        404,
        said={
            401: "The cron secret is missing or wrong.",
            404: "CRON_SECRET is not set: the endpoint is off.",
        },
    ),
)
async def maintenance(request: Request, services: ServicesDep) -> dict[str, int]:
    """Reap expired leases, run a few queued generations and delete media past the sites'
    retention, and send due mail (cron; needs CRON_SECRET)."""
    secret = services.settings.cron_secret
    if not secret:
        raise ApiError(404, "not_found", "Maintenance calls are not enabled here.")
    header = request.headers.get("authorization", "")
    if not same(header, f"Bearer {secret}"):
        raise ApiError(401, "unauthorized", "A valid cron secret is required.")
    done = await run_in_threadpool(services.runner.maintain, max_jobs=_JOBS_PER_CALL)
    expired = await run_in_threadpool(services.maintenance.expire_media)
    mail = await run_in_threadpool(services.maintenance.deliver_mail)
    return done | {
        "photos_deleted": expired.photos_deleted,
        "results_deleted": expired.results_deleted,
        "mail_sent": mail.sent,
    }
