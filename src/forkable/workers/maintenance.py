"""Periodic maintenance: the stuck-job sweep, media retention, the payments reconcile, mail.

Run by `forkable worker` as Procrastinate periodic tasks (one process per tick, whichever
fetches it), and by the embedded server in threads of its own. Each step is safe to run in
several processes at once and to repeat: it changes rows with guarded UPDATEs only.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from forkable.db import Database
from forkable.db.types import utcnow
from forkable.generations import jobs
from forkable.generations.announce import Announcer
from forkable.generations.retention import RetentionReport, expire_media
from forkable.mail.delivery import DeliveryReport, MailDelivery
from forkable.payments.accounts import StripeAccounts
from forkable.payments.gateway import PaymentProviderError
from forkable.payments.service import reconcile
from forkable.sites import SiteRegistry
from forkable.storage import MediaStore

logger = logging.getLogger(__name__)

# A queued generation older than this is announced again by the sweep: its message may never
# have reached the queue (or went down with a worker). A message already waiting for it makes
# the announcement a no-op (`workers.announcer`).
STALE_QUEUED_SECONDS = 30.0
# Most generations a sweep announces again at once; the next sweep takes the rest.
STALE_BATCH = 500
# How far back the scheduled reconcile looks for paid sessions that no webhook credited.
RECONCILE_WINDOW = timedelta(days=3)


@dataclass(frozen=True)
class SweepReport:
    requeued: int
    failed: int
    announced: int


class Maintenance:
    def __init__(
        self,
        *,
        database: Database,
        store: MediaStore,
        sites: SiteRegistry,
        announcer: Announcer,
        max_attempts: int,
        payments: StripeAccounts | None,
        mail: MailDelivery | None = None,
    ) -> None:
        self.database = database
        self.store = store
        self.sites = sites
        self.announcer = announcer
        self.max_attempts = max_attempts
        self.payments = payments
        self.mail = mail

    def sweep(self) -> SweepReport:
        """Expired leases back to the queue (or failed, tokens back, after the last attempt),
        and long-queued generations announced again."""
        reaped = jobs.reap(self.database, max_attempts=self.max_attempts, announcer=self.announcer)
        for generation_id, action in reaped:
            logger.warning("expired lease: generation %s %s", generation_id, action)
        before = utcnow() - timedelta(seconds=STALE_QUEUED_SECONDS)
        waiting = jobs.waiting_since(self.database, before, limit=STALE_BATCH)
        for generation_id in waiting:
            with self.database.transaction() as session:
                self.announcer.announce(session, generation_id)
        if waiting:
            self.announcer.after_commit()
        return SweepReport(
            requeued=sum(1 for _, action in reaped if action == "requeued"),
            failed=sum(1 for _, action in reaped if action == "failed"),
            announced=len(waiting),
        )

    def expire_media(self) -> RetentionReport:
        """Photos and results past their site's `[retention]` days deleted, a batch per site;
        again at once while a site has more waiting."""
        while True:
            report = expire_media(self.database, self.store, self.sites, now=utcnow())
            if report.photos_deleted or report.results_deleted:
                logger.info(
                    "retention: %d photo(s) and %d result(s) deleted",
                    report.photos_deleted,
                    report.results_deleted,
                )
            if not report.more_waiting or not (report.photos_deleted or report.results_deleted):
                return report

    def reconcile_payments(self) -> int:
        """Credit paid checkout sessions of the last days that no webhook credited; how many."""
        if self.payments is None:
            return 0
        since = utcnow() - RECONCILE_WINDOW
        credited = 0
        for account in self.payments.accounts():
            try:
                outcomes = [row.outcome for row in reconcile(self.database, account, since)]
            except PaymentProviderError as exc:
                logger.warning("scheduled reconcile: %s", exc)  # the next run tries again
                continue
            credited += outcomes.count("credited")
        if credited:
            logger.warning("scheduled reconcile credited %d purchase(s)", credited)
        return credited

    def deliver_mail(self) -> DeliveryReport:
        """The outbox's due mail sent (or set to be tried again later)."""
        return self.mail.deliver_due() if self.mail is not None else DeliveryReport()
