"""The steps one generation goes through (the API route, then the job: claim -> make -> store ->
finish), called in-process and timed one by one, to show where the flow's overhead over the bare
filter goes."""

from __future__ import annotations

import asyncio
import secrets
import statistics
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import httpx
from flow import decode, site_copy

from forkable.accounts.passwords import fast_passwords
from forkable.accounts.service import Principal, create_user
from forkable.asgi import open_registry
from forkable.db import Database
from forkable.db.migrate import upgrade
from forkable.db.sync import sync_sites
from forkable.generations import jobs, service
from forkable.generations.admission import AdmissionPolicy
from forkable.generations.result_png import encode_result_png
from forkable.generations.runner import Wakeup
from forkable.generations.uploads import validate_image
from forkable.generations.work import output_key
from forkable.providers.base import Usage
from forkable.providers.local import apply_filter
from forkable.storage import LocalMediaStore
from forkable.web.multipart import ParsedUpload, read_image_upload

FILTER = "coloring_book"
FILTER_STEP = "filter (not overhead)"
OWNER = "bench-runner"
LEASE_SECONDS = 30.0  # RunnerConfig's default
# Steps are timed one by one, far more often than a site's per-minute limit would allow.
UNLIMITED = AdmissionPolicy(
    per_minute=1_000_000, daily_cap_usd=1e9, cost_tokens=1, estimated_cost_usd=0.0
)
# uvicorn hands the body to the app in pieces about this size.
CHUNK_BYTES = 64 * 1024

T = TypeVar("T")


@dataclass
class Pipeline:
    """What the route and the runner work with: a database, a media store, a signed-in user."""

    database: Database
    store: LocalMediaStore
    principal: Principal
    max_bytes: int


def pipeline(folder: Path, site_settings: dict[str, str]) -> Pipeline:
    """A migrated SQLite database (the server's pragmas) with the site and one user."""
    registry = open_registry(site_copy(folder, site_settings))
    database = Database(f"sqlite:///{folder / 'steps.sqlite3'}")
    upgrade(database)
    sync_sites(database, registry)
    site = next(iter(registry))
    user = create_user(
        database,
        fast_passwords(),
        site_id=site.id,
        email="steps@example.com",
        password=secrets.token_urlsafe(16),
        signup_bonus=1000,
    )
    principal = Principal(user.id, site.id, user.email, False, "session")
    max_bytes = site.manifest.transform.max_upload_mb * 1024 * 1024
    return Pipeline(database, LocalMediaStore(folder / "media"), principal, max_bytes)


def multipart(data: bytes) -> tuple[bytes, str]:
    """The body and Content-Type httpx sends for an upload, as the server receives them."""
    request = httpx.Request(
        "POST", "http://bench/", files={"image": ("photo.jpg", data, "image/jpeg")}
    )
    return request.read(), request.headers["content-type"]


def parse_upload(body: bytes, content_type: str, max_bytes: int) -> ParsedUpload:
    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), CHUNK_BYTES):
            yield body[start : start + CHUNK_BYTES]

    # Not asyncio.run(): restoring its SIGINT handler formats the finished task, result and
    # all, and the repr of a multi-megabyte bytes object would be timed as parsing.
    loop = asyncio.new_event_loop()
    try:
        parsing = read_image_upload(chunks(), content_type, max_file_bytes=max_bytes)
        return loop.run_until_complete(parsing)
    finally:
        # The parser stops at the closing boundary, leaving the chunk generator open.
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


@dataclass(frozen=True)
class Step:
    wall: float
    cpu: float  # this process, every thread


Times = dict[str, list[Step]]


def timed(times: Times, label: str, call: Callable[[], T]) -> T:
    wall, cpu = time.perf_counter(), time.process_time()
    value = call()
    times[label].append(Step(time.perf_counter() - wall, time.process_time() - cpu))
    return value


def route_steps(p: Pipeline, data: bytes, times: Times) -> None:
    """What `POST /api/v1/generations` does after authentication, in its order
    (`generations/intake.py`): the row is created queued, and the commit wakes a worker."""
    body, content_type = multipart(data)
    timed(
        times,
        "service.precheck (tokens, rate, spend cap)",
        lambda: service.precheck(p.database, UNLIMITED, p.principal),
    )
    upload = timed(times, "multipart parse", lambda: parse_upload(body, content_type, p.max_bytes))
    image = timed(
        times, "validate_image", lambda: validate_image(upload.file_bytes, max_bytes=p.max_bytes)
    )
    wakeup = Wakeup()
    timed(
        times,
        "service.submit (input file + row & hold tx)",
        lambda: service.submit(
            p.database,
            p.store,
            p.principal,
            image=image,
            style=None,
            policy=UNLIMITED,
            idempotency_key=None,
            announcer=wakeup,
        ),
    )
    wakeup.after_commit()


def job_steps(p: Pipeline, times: Times) -> None:
    """What a worker thread then does (`JobRunner.run_once`, then `JobWork.run`), in its order."""
    job = timed(
        times,
        "jobs.claim_next (claim tx)",
        lambda: jobs.claim_next(p.database, owner=OWNER, lease_seconds=LEASE_SECONDS),
    )
    if job is None:
        raise RuntimeError("the generation just submitted was not there to claim")
    image = timed(
        times, "store.get + decode of the input", lambda: decode(p.store.get(job.input_key))
    )
    # The local provider of the example site (no Gemini key): the filter, defaults, consumed.
    result = timed(times, FILTER_STEP, lambda: apply_filter(FILTER, image, consume=True))
    png = timed(times, "PNG encode of the result", lambda: encode_result_png(result))
    key = output_key(job)
    timed(times, "store.put result (fsync)", lambda: p.store.put(key, png, "image/png"))
    done = timed(
        times,
        "jobs.complete (status + capture tx)",
        lambda: jobs.complete(
            p.database,
            job.id,
            owner=OWNER,
            provider="local:" + FILTER,
            output_key=key,
            usage=Usage(cost_usd=0.0),
            duration_ms=0,
        ),
    )
    if not done:
        raise RuntimeError(f"generation {job.id} was not completed")


def step_medians(
    folder: Path, site_settings: dict[str, str], photos: list[bytes], reps: int
) -> dict[str, Step]:
    """Median wall and CPU seconds per step, over every photo ``reps`` times, after a warm-up."""
    p = pipeline(folder, site_settings)
    times: Times = defaultdict(list)
    for data in [photos[0], *photos * reps]:
        route_steps(p, data, times)
        job_steps(p, times)
    p.database.dispose()
    return {
        label: Step(
            statistics.median(s.wall for s in steps[1:]),
            statistics.median(s.cpu for s in steps[1:]),
        )
        for label, steps in times.items()
    }
