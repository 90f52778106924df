"""The embedded job runner: worker threads that lease generations, and a reaper.

The database row is the truth; this runner only holds leases. If the process dies, its leases
expire and the reaper of any process (this one after a restart, or another) puts the jobs back
in the queue, or fails them with their tokens returned after the last attempt.

A worker makes the result and hands it to a finisher thread, which stores it and commits the
job's end (both wait for the disk, and the commit for SQLite's single writer) while the worker
starts its next job. The job stays leased, its lease renewed, until the finisher is done.
While every worker is busy, the finisher also leases the next queued job ahead
(`lease_next`), so the next worker to be free starts it without a claim of its own.
"""

from __future__ import annotations

import io
import logging
import os
import queue
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from PIL import Image

from forkable import allocator
from forkable.db import Database
from forkable.generations import jobs
from forkable.generations.handoff import DecodedInputs
from forkable.generations.jobs import ClaimedJob, Lease
from forkable.generations.local_queue import LocalQueue
from forkable.generations.result_png import encode_result_png
from forkable.providers.base import (
    INTERNAL,
    Provider,
    ProviderError,
    TransformRequest,
    TransformResult,
    Usage,
)
from forkable.providers.resolver import ProviderResolver
from forkable.sites import Site, SiteRegistry
from forkable.storage import MediaStore

logger = logging.getLogger(__name__)


# Decoded uploads kept for the workers: a 12-MP phone photo's worth of pixels per worker.
HANDOFF_PIXELS_PER_WORKER = 12_000_000


@dataclass(frozen=True)
class RunnerConfig:
    workers: int = 2
    lease_seconds: float = 30.0
    max_attempts: int = 3
    deadline_seconds: float = 120.0
    poll_seconds: float = 1.0


@dataclass(frozen=True)
class MadeResult:
    """A job's result, encoded, on its way to be stored and committed."""

    job: ClaimedJob
    provider: str
    png: bytes
    usage: Usage
    started: float  # time.monotonic() when the job started


def output_key(job: ClaimedJob) -> str:
    # One key per attempt, so a worker that lost its lease never overwrites the winner's file.
    return f"{job.site_id}/{job.id[:2]}/{job.id}-result-{job.attempt}.png"


def build_prompt(site: Site, style_id: str | None) -> tuple[str, dict[str, object]]:
    """The site prompt plus the chosen style's, and the style's filter parameters."""
    transform = site.manifest.transform
    for style in transform.styles:
        if style.id == style_id:
            return f"{transform.prompt}\n\n{style.prompt}", dict(style.params)
    return transform.prompt, {}


class JobRunner:
    """Processes queued generations in ``config.workers`` threads of this process."""

    def __init__(
        self,
        *,
        database: Database,
        store: MediaStore,
        sites: SiteRegistry,
        resolver: ProviderResolver,
        config: RunnerConfig,
        give_back_memory: Callable[[], object] = allocator.give_back_memory,
    ) -> None:
        self.database = database
        self.store = store
        self.sites = sites
        self.resolver = resolver
        self.config = config
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.decoded = DecodedInputs(
            config.workers * HANDOFF_PIXELS_PER_WORKER, max_age=4 * config.lease_seconds
        )
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._active: set[str] = set()
        self._active_lock = threading.Lock()
        self._give_back_memory = give_back_memory
        self._worked_since_give_back = False
        self._local = LocalQueue()
        # Results made by the workers, for the finisher; bounded, so a slow disk or database
        # holds the workers back instead of piling results up in memory.
        self._finishing: queue.Queue[MadeResult | None] = queue.Queue(maxsize=config.workers)
        self._finisher: threading.Thread | None = None

    def start(self) -> None:
        self._stop.clear()
        for number in range(self.config.workers):
            thread = threading.Thread(
                target=self._work_loop, name=f"forkable-worker-{number}", daemon=True
            )
            thread.start()
            self._threads.append(thread)
        keeper = threading.Thread(target=self._keeper_loop, name="forkable-reaper", daemon=True)
        keeper.start()
        self._threads.append(keeper)
        self._finisher = threading.Thread(
            target=self._finish_loop, name="forkable-finisher", daemon=True
        )
        self._finisher.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop taking work; let jobs in progress finish (their leases cover a hard stop)."""
        self._stop.set()
        self._local.wake()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._threads.clear()
        finisher, self._finisher = self._finisher, None
        if finisher is not None:
            # After the workers: the results they handed over are finished first.
            try:
                self._finishing.put(None, timeout=max(0.01, deadline - time.monotonic()))
            except queue.Full:
                return  # the finisher is stuck; the leases of its jobs will expire
            finisher.join(max(0.0, deadline - time.monotonic()))
        self._release_unstarted()

    def notify(self) -> None:
        """New work is queued: wake a worker now rather than at its next poll."""
        self._local.wake()

    def keep_decoded(self, generation_id: str, image: Image.Image) -> None:
        """Keep an upload's decoded pixels for the worker that will run its job.

        Called before the job's row commits, so no worker can claim it first. The stored
        input is the same photo; a worker reads that only when no image was kept (over the
        budget, or the job is picked up by another process or after a restart).
        """
        self.decoded.put(generation_id, image)

    def drop_decoded(self, generation_id: str) -> None:
        """Forget the pixels kept for a job that was not created after all."""
        self.decoded.take(generation_id)

    def lease(self) -> Lease:
        """A lease for a job this runner starts without claiming it from the queue."""
        return Lease.starting_now(self.owner, self.config.lease_seconds)

    def reserve_idle_worker(self) -> Lease | None:
        """A lease for a new job when a worker is idle to start it at once, else None.

        The submit transaction writes the lease into the new row, so the job never waits in
        the queue and no claim transaction is needed; `start_leased` hands it over after the
        commit, or `release` gives the reservation back if the row was not created.
        """
        return self.lease() if self._local.reserve() else None

    @property
    def reservations(self) -> int:
        """Idle workers promised to jobs whose submit transaction has not finished yet."""
        return self._local.reservations

    def release(self) -> None:
        """Give back a reservation whose job was not created."""
        self._local.unreserve()

    def start_leased(self, job: ClaimedJob) -> None:
        """Hand a job leased at submission (see `reserve_idle_worker`) to a waiting worker."""
        self._track(job.id)  # the keeper renews its lease until a worker is done
        self._local.put(job, reserved=True)

    def lease_next(self) -> ClaimedJob | None:
        """With every worker busy, lease the oldest queued job for the next one to be free.

        The finisher calls this after each result, when the worker that made it is about to
        want its next job: that worker then starts at once, where its own claim would wait
        its turn for the database behind the uploads' and the results' commits (measured:
        3-4% of a worker's time with 40 uploads at once on SQLite). At most one job waits
        here, so other processes still share the queue; `stop` puts it back. None when a
        worker is idle (it claims for itself), one job already waits, or nothing is queued.
        """
        if self._stop.is_set() or not self._local.wants_one_ahead():
            return None
        job = self._claim()
        if job is not None:
            self._track(job.id)
            self._local.put(job)
        return job

    @property
    def idle_workers(self) -> int:
        """Workers waiting for work."""
        return self._local.idle

    def _release_unstarted(self) -> None:
        """Put back in the queue the jobs leased here that no worker started."""
        for job in self._local.drain():
            self.decoded.take(job.id)
            try:
                jobs.release(self.database, job.id, owner=self.owner)
            except Exception:
                logger.exception("generation %s stays leased until its lease expires", job.id)
            self._untrack(job.id)

    def run_once(self, generation_id: str | None = None) -> bool:
        """Claim and process one job (the oldest, or the one named) in this thread.

        False when there was nothing to claim.
        """
        job = self._claim(generation_id)
        if job is None:
            return False
        self.run_leased(job)
        return True

    def _claim(self, generation_id: str | None = None) -> ClaimedJob | None:
        return jobs.claim_next(
            self.database,
            owner=self.owner,
            lease_seconds=self.config.lease_seconds,
            generation_id=generation_id,
        )

    def run_leased(self, job: ClaimedJob) -> None:
        """Process a job this runner holds the lease of, in this thread.

        Serverless hosts call this inside the submit request, for the job its row was
        created leased (`lease`).
        """
        self._track(job.id)
        try:
            made = self.make(job)
            if made is not None:
                self.finish(made)
        finally:
            self._untrack(job.id)

    def _work_on(self, job: ClaimedJob) -> None:
        """`run_leased` for a worker thread: the finisher stores and commits the result."""
        self._track(job.id)
        try:
            made = self.make(job)
        except BaseException:
            self._untrack(job.id)
            raise
        if made is None:
            self._untrack(job.id)
        else:
            self._finishing.put(made)  # the finisher untracks it

    def _track(self, generation_id: str) -> None:
        with self._active_lock:
            self._active.add(generation_id)  # the keeper renews its lease meanwhile
            self._worked_since_give_back = True

    def _untrack(self, generation_id: str) -> None:
        with self._active_lock:
            self._active.discard(generation_id)

    def make(self, job: ClaimedJob) -> MadeResult | None:
        """The job's result, encoded; None when it failed or went back to the queue here."""
        started = time.monotonic()
        site = self.sites.get(job.site_id)
        if site is None:
            self.decoded.take(job.id)
            jobs.fail(self.database, job.id, owner=self.owner, reason=INTERNAL)
            return None
        provider = self.resolver.for_site(site).provider
        try:
            result = self._transform(
                job, site, provider, deadline=started + self.config.deadline_seconds
            )
            png = encode_result_png(result.image)
        except ProviderError as exc:
            logger.warning("generation %s failed: %s", job.id, exc)
            if exc.retryable and job.attempt < self.config.max_attempts:
                jobs.requeue(self.database, job.id, owner=self.owner)
                self._local.wake()
            else:
                jobs.fail(
                    self.database,
                    job.id,
                    owner=self.owner,
                    reason=exc.reason,
                    provider=provider.name,
                    usage=exc.usage,
                )
            return None
        except Exception:
            logger.exception("generation %s failed unexpectedly", job.id)
            jobs.fail(
                self.database, job.id, owner=self.owner, reason=INTERNAL, provider=provider.name
            )
            return None
        return MadeResult(job, provider.name, png, result.usage, started)

    def finish(self, made: MadeResult) -> None:
        """Store the result, then mark the job succeeded and capture its hold."""
        job = made.job
        key = output_key(job)
        try:
            self.store.put(key, made.png, "image/png")
        except Exception:
            logger.exception("the result of generation %s could not be stored", job.id)
            jobs.fail(
                self.database, job.id, owner=self.owner, reason=INTERNAL, provider=made.provider
            )
            return
        done = jobs.complete(
            self.database,
            job.id,
            owner=self.owner,
            provider=made.provider,
            output_key=key,
            usage=made.usage,
            duration_ms=round((time.monotonic() - made.started) * 1000),
        )
        if not done:
            # Our lease expired and someone else owns the job now: keep only their result.
            self.store.delete(key)

    def _finish_loop(self) -> None:
        while (made := self._finishing.get()) is not None:
            try:
                self.finish(made)
            except Exception:
                # A database hiccup: the job stays leased until its lease expires and the
                # reaper puts it back in the queue.
                logger.exception("could not finish generation %s", made.job.id)
            finally:
                self._untrack(made.job.id)
            try:
                self.lease_next()
            except Exception:
                logger.exception("could not lease the next job ahead")  # a worker claims it

    def _transform(
        self, job: ClaimedJob, site: Site, provider: Provider, *, deadline: float
    ) -> TransformResult:
        """The provider's result for the job's photo.

        A function of its own so that the input image (36 MB decoded at 12 MP) is released
        when the provider is done with it, before the result is encoded and stored.
        """
        image = self.decoded.take(job.id)
        if image is None:
            image = _load(self.store.get(job.input_key))
        prompt, params = build_prompt(site, job.style)
        return provider.transform(
            TransformRequest(
                image=image,
                prompt=prompt,
                params=params,
                model=site.manifest.transform.model,
                deadline=deadline,
                consumable=True,  # decoded for this job alone
            )
        )

    def _work_loop(self) -> None:
        while not self._stop.is_set():
            try:
                started = self._local.take()
                if started is not None:
                    self._work_on(started)
                    continue
                job = self._claim()
                if job is not None:
                    self._work_on(job)
                    continue
            except Exception:
                # A database hiccup must not kill the worker; the lease protects the job.
                logger.exception("job runner error")
            self._local.wait(self.config.poll_seconds)

    def maintain(self, *, max_jobs: int) -> dict[str, int]:
        """One round of what the background threads do, for hosts without them (cron)."""
        reaped = jobs.reap(self.database, max_attempts=self.config.max_attempts)
        processed = 0
        while processed < max_jobs and self.run_once():
            processed += 1
        return {
            "requeued": sum(1 for _, action in reaped if action == "requeued"),
            "failed": sum(1 for _, action in reaped if action == "failed"),
            "processed": processed,
        }

    def _keeper_loop(self) -> None:
        interval = max(0.05, self.config.lease_seconds / 3)
        while not self._stop.wait(interval):
            try:
                with self._active_lock:
                    active = list(self._active)
                jobs.renew_leases(
                    self.database,
                    owner=self.owner,
                    ids=active,
                    lease_seconds=self.config.lease_seconds,
                )
                for generation_id, action in jobs.reap(
                    self.database, max_attempts=self.config.max_attempts
                ):
                    logger.warning("expired lease: generation %s %s", generation_id, action)
                    if action == "requeued":
                        self._local.wake()
                self._give_back_when_idle()
            except Exception:
                logger.exception("lease keeper error")

    def _give_back_when_idle(self) -> None:
        """Once no job is in progress after some work, return freed memory to the system.

        Checked at the keeper's ticks, so at most once a third of a lease period: a job that
        comes right after pays for fresh pages once, not every job for every photo.
        """
        with self._active_lock:
            if self._active or not self._worked_since_give_back:
                return
            self._worked_since_give_back = False
        self._give_back_memory()


def _load(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image
