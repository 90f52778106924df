"""`forkable worker`: generation jobs from the shared queue, and periodic maintenance; no HTTP.

Procrastinate delivers "work on generation X"; this process claims the row by id with a lease
(`jobs.claim_next`), so a message delivered twice, or for a generation already finished or
deleted, finds nothing to claim and ends. The work itself is `work.JobWork`, the same as in the
embedded runner. Jobs run in daemon threads (provider calls block); the event loop only waits.

SIGTERM or SIGINT: no new jobs; jobs in progress get half a lease to finish, then are given
back to the queue (requeued and announced for another worker) and the process exits, within
the lease. A SIGKILLed worker's leases expire and the sweep of any other worker requeues them.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import procrastinate
from procrastinate.jobs import Status

from forkable.db import Database
from forkable.generations import jobs
from forkable.generations.leases import LeaseKeeper, new_owner
from forkable.generations.work import JobWork
from forkable.observability.metrics import Metrics
from forkable.workers.engine import (
    GENERATION_TASK,
    GENERATIONS_QUEUE,
    MAINTENANCE_QUEUE,
    queue_app,
)
from forkable.workers.maintenance import Maintenance
from forkable.workers.threads import in_daemon_thread

logger = logging.getLogger(__name__)

# Maintenance goes before waiting generations (Procrastinate fetches higher priorities first).
MAINTENANCE_PRIORITY = 10
# A Procrastinate job whose worker has sent no heartbeat for this long died with its worker;
# its generation is requeued by the lease sweep, the message itself is removed.
DEAD_WORKER_SECONDS = 60.0


@dataclass(frozen=True)
class WorkerConfig:
    concurrency: int = 4
    lease_seconds: float = 30.0
    sweep_cron: str = "* * * * * */15"  # every 15 seconds (croniter's sixth field)
    reconcile_cron: str = "*/10 * * * *"
    retention_cron: str = "17 * * * *"  # hourly
    mail_cron: str = "* * * * * */10"  # every 10 seconds
    poll_seconds: float = 5.0  # LISTEN/NOTIFY wakes the worker at once; this is the fallback


class QueueWorker:
    def __init__(
        self,
        *,
        database: Database,
        work: JobWork,
        maintenance: Maintenance,
        config: WorkerConfig,
        metrics: Metrics | None = None,
    ) -> None:
        self.database = database
        self.metrics = metrics or Metrics(enabled=False, role="worker")
        self.work = work
        self.maintenance = maintenance
        self.config = config
        self.owner = new_owner()
        self.keeper = LeaseKeeper(database, owner=self.owner, lease_seconds=config.lease_seconds)
        # Connections: one per job in flight at most, plus the listener and the heartbeat.
        self.app = queue_app(database, pool_size=config.concurrency + 2)
        self._register(self.app)

    def run(self) -> None:
        """Work until SIGTERM or SIGINT; returns once every job has ended or been given back."""
        asyncio.run(self.run_async())

    async def run_async(self) -> None:
        self.keeper.start()
        self.metrics.start()
        try:
            async with self.app.open_async():
                await self.app.run_worker_async(
                    queues=[GENERATIONS_QUEUE, MAINTENANCE_QUEUE],
                    concurrency=self.config.concurrency,
                    name=self.owner,
                    shutdown_graceful_timeout=self.config.lease_seconds / 2,
                    delete_jobs="always",  # the generation's row keeps what happened
                    fetch_job_polling_interval=self.config.poll_seconds,
                )
        finally:
            self.keeper.stop()
            self.metrics.stop()

    def close(self) -> None:
        """The provider clients' and the database's pooled connections."""
        self.work.resolver.close()
        self.database.dispose()

    async def run_generation(self, generation_id: str) -> str:
        """Claim the generation and run it to its end; what became of it."""
        job = await in_daemon_thread(
            "forkable-claim",
            lambda: jobs.claim_next(
                self.database,
                owner=self.owner,
                lease_seconds=self.config.lease_seconds,
                generation_id=generation_id,
            ),
        )
        if job is None:
            return "not queued"  # finished, deleted, or another worker holds it: nothing to do
        with self.keeper.holding(job.id):
            try:
                return await in_daemon_thread(
                    f"forkable-job-{job.id[:8]}", lambda: self.work.run(job, owner=self.owner)
                )
            except asyncio.CancelledError:
                # Stopping, and the job outlived the grace period: give it back. If the thread
                # still finishes it, its commit finds the lease gone and keeps nothing.
                returned = jobs.requeue(
                    self.database, job.id, owner=self.owner, announcer=self.work.announcer
                )
                logger.warning(
                    "stopping: generation %s %s", job.id, "returned" if returned else "ended"
                )
                raise

    async def sweep(self) -> None:
        report = await in_daemon_thread("forkable-sweep", self.maintenance.sweep)
        if report.requeued or report.failed or report.announced:
            logger.info("sweep: %s", report)
        manager = self.app.job_manager
        for stalled in await manager.get_stalled_jobs(seconds_since_heartbeat=DEAD_WORKER_SECONDS):
            await manager.finish_job(stalled, status=Status.FAILED, delete_job=True)

    def _register(self, app: procrastinate.App) -> None:
        @app.task(name=GENERATION_TASK, queue=GENERATIONS_QUEUE)
        async def run_generation(generation_id: str) -> str:
            return await self.run_generation(generation_id)

        @app.periodic(cron=self.config.sweep_cron, periodic_id="sweep")
        @app.task(
            name="forkable.sweep",
            queue=MAINTENANCE_QUEUE,
            priority=MAINTENANCE_PRIORITY,
        )
        async def sweep(timestamp: int) -> None:
            await self.sweep()

        @app.periodic(cron=self.config.reconcile_cron, periodic_id="reconcile")
        @app.task(
            name="forkable.reconcile_payments",
            queue=MAINTENANCE_QUEUE,
            priority=MAINTENANCE_PRIORITY,
        )
        async def reconcile_payments(timestamp: int) -> None:
            await in_daemon_thread("forkable-reconcile", self.maintenance.reconcile_payments)

        @app.periodic(cron=self.config.retention_cron, periodic_id="retention")
        @app.task(
            name="forkable.expire_media",
            queue=MAINTENANCE_QUEUE,
            priority=MAINTENANCE_PRIORITY,
        )
        async def expire_media(timestamp: int) -> None:
            await in_daemon_thread("forkable-retention", self.maintenance.expire_media)

        @app.periodic(cron=self.config.mail_cron, periodic_id="mail")
        @app.task(
            name="forkable.deliver_mail",
            queue=MAINTENANCE_QUEUE,
            priority=MAINTENANCE_PRIORITY,
        )
        async def deliver_mail(timestamp: int) -> None:
            await in_daemon_thread("forkable-mail", self.maintenance.deliver_mail)
