"""Alert test helpers: a clock to move, a channel that keeps what it gets, real generation rows."""

from __future__ import annotations

import threading
import uuid
from datetime import datetime, timedelta
from typing import Literal

from tests.factories import PASSWORD, open_policy, photo_bytes

from forkable.accounts.service import Principal, create_user
from forkable.db.types import utcnow
from forkable.generations import jobs, service
from forkable.generations.uploads import validate_image
from forkable.monitoring.alerts.channels import Alert, ChannelError
from forkable.monitoring.alerts.rule import Rule
from forkable.monitoring.alerts.rules import load_rules
from forkable.providers.base import Usage
from forkable.services import Services

Outcome = Literal["queued", "failed", "succeeded"]


class Clock:
    """A settable clock for evaluators: windows, `for` and cool-downs without sleeping."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class KeptChannel:
    """A channel that keeps every alert it is given (or refuses them all)."""

    name = "kept"

    def __init__(self, *, refuse: bool = False) -> None:
        self.refuse = refuse
        self.alerts: list[Alert] = []
        self._lock = threading.Lock()

    def send(self, alert: Alert) -> None:
        if self.refuse:
            raise ChannelError("refused on purpose")
        with self._lock:
            self.alerts.append(alert)

    def kinds(self) -> list[tuple[str, str | None]]:
        with self._lock:
            return [(alert.kind, alert.site_id) for alert in self.alerts]

    def clear(self) -> None:
        with self._lock:
            self.alerts.clear()


def shipped(name: str, **changes: object) -> Rule:
    """A shipped rule by name, with some settings changed."""
    rule = next(rule for rule in load_rules() if rule.name == name)
    return rule.model_copy(update=changes)


def make_generations(
    services: Services,
    site_id: str,
    *,
    count: int,
    outcome: Outcome,
    reason: str = "down",
    cost_usd: float | None = None,
) -> list[str]:
    """Real generations of a new user through the service and job functions, ledger and all."""
    user = create_user(
        services.database,
        services.passwords,
        site_id=site_id,
        email=f"{uuid.uuid4().hex[:10]}@example.com",
        password=PASSWORD,
        signup_bonus=count,
    )
    principal = Principal(user.id, site_id, user.email, False, "session")
    image = validate_image(photo_bytes(size=64), max_bytes=10_000_000)
    ids: list[str] = []
    for _ in range(count):
        submitted = service.submit(
            services.database,
            services.store,
            principal,
            image=image,
            style=None,
            policy=open_policy(),
            idempotency_key=None,
        )
        generation_id = submitted.generation.id
        ids.append(generation_id)
        if outcome != "queued":
            finish(services, generation_id, outcome, reason=reason, cost_usd=cost_usd)
    return ids


def finish(
    services: Services,
    generation_id: str,
    outcome: Outcome,
    *,
    reason: str = "down",
    cost_usd: float | None = None,
) -> None:
    """Take a queued generation as a worker would and finish it."""
    database = services.database
    claimed = jobs.claim_next(database, owner="test", lease_seconds=60, generation_id=generation_id)
    assert claimed is not None
    usage = Usage(cost_usd=cost_usd)
    if outcome == "failed":
        assert jobs.fail(database, generation_id, owner="test", reason=reason, usage=usage)
    else:
        assert jobs.complete(
            database,
            generation_id,
            owner="test",
            provider="local",
            output_key=f"out/{generation_id}.png",
            usage=usage,
            duration_ms=5,
        )
