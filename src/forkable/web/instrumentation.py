"""Pure ASGI middleware that observes every request: its id, its metrics, its log line."""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from forkable.observability.access_log import AccessLog
from forkable.observability.logs import RequestIds, bind_request
from forkable.observability.metrics import Metrics

_REQUEST_ID_HEADER = b"x-request-id"
# Load balancers and scrapers call these every few seconds: log them only when they fail.
_QUIET_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


def route_template(scope: Scope, root_path: str = "") -> str:
    """The matched route's path template, never the raw path; "unmatched" when none matched.

    FastAPI puts the route object of the router that declared it in ``scope["route"]``, whose
    path lacks the prefixes of the routers it was included in (`/api/v1`): the prefix is the
    part of the request path before the route's own, with the path parameters filled in.
    """
    route = scope.get("route")
    path: str = scope["path"]
    params = scope.get("path_params")
    if route is not None and not params:
        # A matched route without parameters matched the whole path: it is its own template.
        return path
    template = getattr(route, "path_format", None)
    if isinstance(template, str):
        params = params or {}
        try:
            concrete = template.format(**{k: str(v) for k, v in params.items()})
        except (KeyError, IndexError, ValueError):
            return template
        if path.endswith(concrete):
            return path[: len(path) - len(concrete)] + template
        return template
    mounted = scope.get("root_path", "")
    if isinstance(mounted, str) and len(mounted) > len(root_path):
        return mounted[len(root_path) :] + "/{path}"  # a mount (static files)
    if "endpoint" in scope and not scope.get("path_params"):
        return path  # a plain route without parameters: its path is its template
    return "unmatched"


class InstrumentationMiddleware:
    """Pure ASGI, outermost: the request id (taken or made, echoed, bound for logs), the
    request's metrics (count and latency by method, route template and status) and one
    access-log line. One middleware rather than three: each layer costs every request."""

    def __init__(self, app: ASGIApp, *, metrics: Metrics, access_log: AccessLog | None) -> None:
        self.app = app
        self.metrics = metrics
        self.access_log = access_log
        self.request_ids = RequestIds()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent_id = None
        for name, value in scope["headers"]:
            if name == _REQUEST_ID_HEADER:
                sent_id = value.decode("latin-1")
                break
        request_id = self.request_ids(sent_id)
        context = bind_request(request_id, scope.setdefault("state", {}))
        echo = (_REQUEST_ID_HEADER, request_id.encode("latin-1"))
        root_path = scope.get("root_path", "")
        status = 500  # an exception before the response starts becomes a 500 outside us

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), echo]
            await send(message)

        tally = self.metrics.requests.for_this_thread()
        tally.in_progress += 1
        started = time.perf_counter()
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            tally.in_progress -= 1
            # A long poll says so (its time is the wait the client asked for, not ours).
            route = route_template(scope, root_path) + scope["state"].get("route_suffix", "")
            tally.record(scope["method"], route, status, elapsed)
            path = scope["path"]
            if self.access_log is not None and (status >= 400 or path not in _QUIET_PATHS):
                self.access_log.request(
                    context, scope["method"], path, route, status, elapsed * 1000
                )
