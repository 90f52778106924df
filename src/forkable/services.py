"""The long-lived services of one app, built once and reached through ``app.state``."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from forkable.accounts.passwords import Passwords
from forkable.db import Database
from forkable.generations.announce import Announcer
from forkable.generations.runner import JobRunner
from forkable.generations.waits import StatusWaits
from forkable.observability.metrics import Metrics
from forkable.payments.accounts import StripeAccounts
from forkable.providers.resolver import ProviderResolver
from forkable.ratelimit import RateLimiter
from forkable.settings import Settings
from forkable.sites import SiteRegistry
from forkable.storage import MediaStore
from forkable.workers.maintenance import Maintenance


@dataclass
class Services:
    """What routes depend on; tests build several side by side."""

    settings: Settings
    database: Database
    sites: SiteRegistry
    store: MediaStore
    passwords: Passwords
    limiter: RateLimiter
    resolver: ProviderResolver
    runner: JobRunner
    announcer: Announcer  # the runner's wake-up, or the shared queue with `serve --no-jobs`
    payments: StripeAccounts | None  # None in demo mode
    maintenance: Maintenance
    waits: StatusWaits  # requests waiting for a generation to change (long polls, streams)
    metrics: Metrics = field(default_factory=Metrics)
    # Decoding a 12-MP upload takes ~40 MB; a few at a time keeps a burst of them in bounds.
    upload_slots: threading.BoundedSemaphore = field(
        default_factory=lambda: threading.BoundedSemaphore(2)
    )
    # Likewise for print-ready PDFs: a book holds its compressed pages until it is written.
    print_slots: threading.BoundedSemaphore = field(
        default_factory=lambda: threading.BoundedSemaphore(2)
    )
