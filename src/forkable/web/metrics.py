"""`GET /metrics`: Prometheus text format, behind a bearer token when one is configured."""

from __future__ import annotations

from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.responses import Response

from forkable.accounts.tokens import same
from forkable.monitoring.gauges import scrape_gauges
from forkable.web.deps import ServicesDep
from forkable.web.errors import ApiError

router = APIRouter(include_in_schema=False)


def _authorised(request: Request, token: str) -> bool:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and same(value.strip(), token)


@router.get("/metrics")
def metrics(request: Request, services: ServicesDep) -> Response:
    """Every counter of the process (all workers'), plus gauges read from the database now."""
    if not services.metrics.enabled:
        raise ApiError(404, "not_found", "Metrics are switched off here.")
    token = services.settings.metrics_token
    # Production refuses to start without a token; the check here is a second lock.
    if (token or services.settings.is_production) and not (token and _authorised(request, token)):
        raise ApiError(
            401,
            "unauthorized",
            "Send the metrics token as `Authorization: Bearer <token>`.",
            {"WWW-Authenticate": 'Bearer realm="metrics"'},
        )
    body = services.metrics.exposition(scrape_gauges(services))
    return Response(body, media_type=CONTENT_TYPE_LATEST)
