"""The embedded job runner: threads of the serving process that run queued generations.

The database row is the truth; this runner only holds leases. Each worker thread claims the
oldest queued generation, runs it (`work.JobWork`: make -> store -> finish) and claims the
next; when nothing is queued it waits until a submit wakes it or its poll interval passes, so
rows queued by another process are found too. A keeper thread renews the leases of the jobs
in progress and sweeps expired leases (`jobs.reap`): if a process dies, its jobs go back to the
queue, or fail with their tokens returned after the last attempt.

On serverless hosts no thread outlives a request: a job runs inside the request that submitted
it (`run_claimed`), and a cron call (`maintain`) sweeps and runs what is left.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from sqlalchemy.orm import Session

from forkable.db import Database
from forkable.generations import jobs
from forkable.generations.jobs import ClaimedJob, Lease
from forkable.generations.leases import LeaseKeeper, new_owner
from forkable.generations.work import JobPolicy, JobWork

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunnerConfig:
    workers: int = 2
    lease_seconds: float = 30.0
    poll_seconds: float = 1.0
    max_attempts: int = 3
    deadline_seconds: float = 120.0

    @property
    def policy(self) -> JobPolicy:
        return JobPolicy(max_attempts=self.max_attempts, deadline_seconds=self.deadline_seconds)


class Wakeup:
    """The embedded default's announcer: the row itself is the message (a worker thread
    claims it), so a commit only wakes a waiting thread.

    One permit per commit that queued work: a wake-up is never lost between two waits, and a
    permit nobody needed costs one claim that finds nothing.
    """

    def __init__(self) -> None:
        self._permits = threading.Semaphore(0)

    def announce(self, session: Session, generation_id: str) -> None:
        pass

    def after_commit(self) -> None:
        self._permits.release()

    def wait(self, timeout: float) -> None:
        self._permits.acquire(timeout=timeout)

    def wake_all(self, waiting: int) -> None:
        self._permits.release(max(1, waiting))


class JobRunner:
    """Runs queued generations in ``config.workers`` threads of this process."""

    def __init__(
        self, *, database: Database, work: JobWork, wakeup: Wakeup, config: RunnerConfig
    ) -> None:
        self.database = database
        self.work = work
        self.wakeup = wakeup
        self.config = config
        self.owner = new_owner()
        self.keeper = LeaseKeeper(
            database, owner=self.owner, lease_seconds=config.lease_seconds, also=self._sweep
        )
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        self._stop.clear()
        for number in range(self.config.workers):
            thread = threading.Thread(
                target=self._work_loop, name=f"forkable-worker-{number}", daemon=True
            )
            thread.start()
            self._threads.append(thread)
        self.keeper.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop taking work; let jobs in progress finish (their leases cover a hard stop)."""
        self._stop.set()
        self.wakeup.wake_all(len(self._threads))
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._threads.clear()
        self.keeper.stop()

    def lease(self) -> Lease:
        """A lease for a job this process runs at once, written into its row at submission."""
        return Lease.starting_now(self.owner, self.config.lease_seconds)

    def run_claimed(self, job: ClaimedJob) -> str:
        """Run a job this process holds the lease of, in this thread; what became of it."""
        with self.keeper.holding(job.id):
            return self.work.run(job, owner=self.owner)

    def run_once(self, generation_id: str | None = None) -> bool:
        """Claim and run one job (the oldest, or the one named) in this thread.

        False when there was nothing to claim.
        """
        job = jobs.claim_next(
            self.database,
            owner=self.owner,
            lease_seconds=self.config.lease_seconds,
            generation_id=generation_id,
        )
        if job is None:
            return False
        self.run_claimed(job)
        return True

    def maintain(self, *, max_jobs: int) -> dict[str, int]:
        """One round of what the background threads do, for hosts without them (cron)."""
        reaped = self._sweep()
        processed = 0
        while processed < max_jobs and self.run_once():
            processed += 1
        return {
            "requeued": sum(1 for _, action in reaped if action == "requeued"),
            "failed": sum(1 for _, action in reaped if action == "failed"),
            "processed": processed,
        }

    def _sweep(self) -> list[tuple[str, str]]:
        reaped = jobs.reap(
            self.database, max_attempts=self.work.policy.max_attempts, announcer=self.wakeup
        )
        for generation_id, action in reaped:
            logger.warning("expired lease: generation %s %s", generation_id, action)
        return reaped

    def _work_loop(self) -> None:
        while not self._stop.is_set():
            try:
                if self.run_once():
                    continue
            except Exception:
                # A database hiccup must not kill the worker; the lease protects the job.
                logger.exception("job runner error")
            self.wakeup.wait(self.config.poll_seconds)
