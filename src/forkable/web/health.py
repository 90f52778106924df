"""Liveness and readiness: what a load balancer asks before sending traffic."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.responses import JSONResponse

from forkable.observability.readiness import core_components
from forkable.web.deps import ServicesDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """200 while the process lives."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "a component is not ready"}})
def readyz(services: ServicesDep) -> JSONResponse:
    """200 when every component answers, 503 naming the ones that do not."""
    components: dict[str, dict[str, Any]] = core_components(
        services.database, services.settings.data_dir, services.store.check
    )
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
