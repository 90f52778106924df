"""Liveness and readiness: what a load balancer asks before sending traffic."""

from __future__ import annotations

import os
import tempfile
from typing import Any

from fastapi import APIRouter
from starlette.responses import JSONResponse

from forkable.web.deps import ServicesDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """200 while the process lives."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "a component is not ready"}})
def readyz(services: ServicesDep) -> JSONResponse:
    """200 when every component answers, 503 naming the ones that do not."""
    components: dict[str, dict[str, Any]] = {}
    try:
        services.database.ping()
        components["database"] = {"status": "ok"}
    except Exception as exc:  # any failure means not ready; the reason goes to the operator
        components["database"] = {"status": "error", "detail": type(exc).__name__}
    components["storage"] = _data_dir_status(services.settings.data_dir)
    degraded = services.resolver.degraded()
    # An open breaker degrades image making, not the site: pages, sign-in and payments still
    # work, so readiness stays green while the provider shows as degraded.
    components["provider"] = (
        {"status": "degraded", "open_circuits": degraded} if degraded else {"status": "ok"}
    )
    ready = all(c["status"] in ("ok", "degraded") for c in components.values())
    return JSONResponse(
        {"status": "ok" if ready else "unavailable", "components": components},
        status_code=200 if ready else 503,
    )


def _data_dir_status(data_dir: os.PathLike[str]) -> dict[str, Any]:
    try:
        with tempfile.NamedTemporaryFile(dir=data_dir, prefix=".readyz-"):
            pass
    except OSError as exc:
        return {"status": "error", "detail": f"data dir not writable: {exc.strerror}"}
    return {"status": "ok"}
