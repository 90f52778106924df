"""One generation's status: as it is now, after a long poll (`?wait=S`), or as a stream.

The long poll and the event stream let a client follow an image without polling. Both register with the process's `StatusWaits` before they read the row, read it again each
time a commit wakes them, and hold no thread while they wait. A client that goes away frees
its wait at once: each request listens for the disconnect while it waits.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

import anyio
from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from forkable.accounts.service import Principal
from forkable.generations import service
from forkable.generations.models import Generation, Status
from forkable.generations.waits import FINAL, TooManyWaits, Waiter
from forkable.services import Services
from forkable.web.api.generations import generation_out, owned
from forkable.web.api.schemas import GenerationOut, IdPath, errors
from forkable.web.auth import LenientPrincipal
from forkable.web.deps import ServicesDep
from forkable.web.errors import ApiError

router = APIRouter(tags=["generations"])

# An event stream ends after this long (its client reconnects, as EventSource does by itself):
# a stopping server waits for open requests, so none may hold it for longer than a long poll.
STREAM_SECONDS = 30.0
# A comment line this often keeps proxies from closing a quiet stream.
KEEPALIVE_SECONDS = 15.0
# How long a browser waits before it reconnects to a stream that ended early.
RECONNECT_MS = 500

# The long poll's requests are labelled apart in the metrics (and so kept out of the latency
# alert): their time is the wait the client asked for.
LONG_POLL_ROUTE_SUFFIX = "?wait"


@contextmanager
def _waiting(
    services: Services, principal: Principal, generation_id: str, *, follows_queue: bool
) -> Iterator[Waiter]:
    user_key = f"{principal.site_id}:{principal.user_id}"
    try:
        with services.waits.waiting(user_key, generation_id, follows_queue=follows_queue) as w:
            yield w
    except TooManyWaits as exc:
        raise ApiError(429, "too_many_waits", str(exc), {"Retry-After": "1"}) from None


async def _until_disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def long_poll(
    request: Request,
    services: Services,
    principal: Principal | None,
    generation_id: str,
    seconds: float,
) -> Generation:
    """The generation once it has succeeded or failed, or as it is after ``seconds``."""
    if principal is None:
        raise ApiError(404, "not_found", "No such image.")
    request.state.route_suffix = LONG_POLL_ROUTE_SUFFIX
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    with _waiting(services, principal, generation_id, follows_queue=False) as waiter:
        gone = asyncio.ensure_future(_until_disconnected(request.receive))
        try:
            while True:
                waiter.rearm()
                generation = await run_in_threadpool(owned, services, principal, generation_id)
                waiter.saw(generation.status)
                remaining = deadline - loop.time()
                if generation.status in FINAL or remaining <= 0 or gone.done():
                    return generation
                changed = asyncio.ensure_future(waiter.changed(remaining))
                await asyncio.wait((changed, gone), return_when=asyncio.FIRST_COMPLETED)
                changed.cancel()
                if gone.done():  # nobody reads the answer: free the wait now
                    return generation
        finally:
            gone.cancel()


@dataclass
class _Seen:
    status: str | None = None
    queue_position: int | None = None


def _event(name: str, data: dict[str, object], event_id: str | None = None) -> str:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


class EventStream(StreamingResponse):
    """A `text/event-stream` that stops as soon as its client disconnects, and then calls
    ``on_close`` (which frees the wait) however it ended."""

    def __init__(self, events: AsyncIterator[str], on_close: Callable[[], object]) -> None:
        super().__init__(
            events,
            media_type="text/event-stream",
            headers={"cache-control": "no-store", "x-accel-buffering": "no"},
        )
        self.on_close = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            async with anyio.create_task_group() as group:

                async def stop_when_gone() -> None:
                    await _until_disconnected(receive)
                    group.cancel_scope.cancel()

                group.start_soon(stop_when_gone)
                await send(
                    {
                        "type": "http.response.start",
                        "status": self.status_code,
                        "headers": self.raw_headers,
                    }
                )
                async for chunk in self.body_iterator:
                    data = chunk if isinstance(chunk, bytes) else str(chunk).encode()
                    await send({"type": "http.response.body", "body": data, "more_body": True})
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                group.cancel_scope.cancel()
        except OSError:
            pass  # the client went away while we wrote
        finally:
            self.on_close()


async def _stream(
    waiter: Waiter,
    read: Callable[[], tuple[Generation, int | None]],
    seen: _Seen,
    *,
    seconds: float,
) -> AsyncIterator[str]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    yield f"retry: {RECONNECT_MS}\n\n"
    while True:
        waiter.rearm()
        try:
            generation, position = await run_in_threadpool(read)
        except ApiError:  # deleted meanwhile: nothing more will happen to it
            return
        waiter.saw(generation.status)
        if generation.status != seen.status:
            data: dict[str, object] = generation_out(generation).model_dump(mode="json")
            data["queue_position"] = position
            yield _event("status", data, event_id=generation.status)
        elif position != seen.queue_position and position is not None:
            yield _event("queue", {"id": generation.id, "queue_position": position})
        seen.status, seen.queue_position = generation.status, position
        remaining = deadline - loop.time()
        if generation.status in FINAL or remaining <= 0:
            return
        if not await waiter.changed(min(remaining, KEEPALIVE_SECONDS)):
            yield ": keep-alive\n\n"


WaitQuery = Query(
    default=None,
    gt=0,
    le=30,
    description="Seconds to wait (at most 30): the answer comes as soon as the image has "
    "succeeded or failed, or after this long with its status then.",
)


@router.get(
    "/generations/{generation_id}",
    response_model=GenerationOut,
    responses=errors(
        404,
        422,
        429,
        said={
            422: "A bad id, or `wait` not in (0, 30].",
            429: "Too many open waits for this user or this server; poll instead.",
        },
    ),
)
async def get_generation(
    request: Request,
    generation_id: IdPath,
    principal: LenientPrincipal,
    services: ServicesDep,
    wait: float | None = WaitQuery,
) -> GenerationOut:
    """An image's status; with `wait`, a long poll that answers when it is done."""
    if wait is None:
        generation = await run_in_threadpool(owned, services, principal, generation_id)
    else:
        generation = await long_poll(request, services, principal, generation_id, wait)
    return generation_out(generation)


@router.get(
    "/generations/{generation_id}/events",
    response_class=EventStream,
    status_code=200,
    responses={
        200: {
            "content": {"text/event-stream": {}},
            "description": "One `status` event per change of status (data: the generation's "
            "JSON, with `queue_position` while it is queued), `queue` events when its place in "
            "the queue moves, closed after the final status. A stream also ends after "
            f"{STREAM_SECONDS:.0f} s; reconnecting (as EventSource does) with `Last-Event-ID` "
            "resumes without repeating the status already seen.",
        },
        **errors(
            404,
            422,
            429,
            said={429: "Too many open waits for this user or this server; poll instead."},
        ),
    },
)
async def generation_events(
    request: Request, generation_id: IdPath, principal: LenientPrincipal, services: ServicesDep
) -> EventStream:
    """Follow an image as Server-Sent Events until it has succeeded or failed."""
    if principal is None:
        raise ApiError(404, "not_found", "No such image.")
    first = await run_in_threadpool(owned, services, principal, generation_id)

    def read() -> tuple[Generation, int | None]:
        generation = owned(services, principal, generation_id)
        if generation.status != Status.QUEUED:
            return generation, None
        return generation, service.queue_position(services.database, generation)

    # A reconnecting client says which status it saw last; it is not sent again.
    last_seen = request.headers.get("last-event-id")
    seen = _Seen(status=last_seen if last_seen == first.status else None)
    resources = ExitStack()
    waiter = resources.enter_context(
        _waiting(services, principal, generation_id, follows_queue=True)
    )
    return EventStream(_stream(waiter, read, seen, seconds=STREAM_SECONDS), resources.close)
