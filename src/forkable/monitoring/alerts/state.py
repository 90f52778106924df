"""Alert state per rule and site: one state machine, kept in `alert_states` or in memory.

ok -> pending (the condition holds, `for` not yet over) -> firing -> ok again. The database
store moves a row with a compare-and-set UPDATE (`WHERE state = <what we read> AND ...`) and
only the evaluator whose update matched may notify, so two processes evaluating at once (the
serving process and a cron job, or several workers) never both send the same notice.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal, Protocol, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from forkable.db import Database
from forkable.monitoring.alerts.rule import Rule
from forkable.monitoring.models import AlertState

OK, PENDING, FIRING = "ok", "pending", "firing"
Kind = Literal["firing", "reminder", "resolved"]


@dataclass(frozen=True)
class Status:
    state: str
    since: datetime  # when the current state began (for pending/firing: when the condition did)
    last_notified_at: datetime | None


@dataclass(frozen=True)
class Observation:
    """What one evaluation saw for one rule and scope."""

    rule: Rule
    site_id: str | None
    holds: bool
    value: float | None
    summary: str
    now: datetime

    @property
    def key(self) -> str:
        return self.rule.key(self.site_id)


@dataclass(frozen=True)
class Transition:
    """A notice this evaluator won the right to send."""

    kind: Kind
    key: str
    since: datetime  # when the condition began (for a resolve: when it had begun)
    notified_at: datetime


def step(current: Status, holds: bool, rule: Rule, now: datetime) -> tuple[Status, Kind | None]:
    """The next status, and the notice it calls for (if any)."""
    state = current.state if current.state in (PENDING, FIRING) else OK
    if not holds:
        if state == FIRING:
            return Status(OK, now, now), "resolved"
        if state == PENDING:
            return Status(OK, now, current.last_notified_at), None
        return current, None
    if state == OK:
        if rule.for_seconds > 0:
            return Status(PENDING, now, current.last_notified_at), None
        return Status(FIRING, now, now), "firing"
    if state == PENDING:
        if now - current.since >= timedelta(seconds=rule.for_seconds):
            return Status(FIRING, current.since, now), "firing"
        return current, None
    if current.last_notified_at is None:  # the last notice reached no channel: try again
        return replace(current, last_notified_at=now), "firing"
    if rule.cooldown > 0 and now - current.last_notified_at >= timedelta(seconds=rule.cooldown):
        return replace(current, last_notified_at=now), "reminder"
    return current, None


def _transition(observation: Observation, current: Status, new: Status, kind: Kind) -> Transition:
    since = current.since if kind == "resolved" else new.since
    return Transition(kind, observation.key, since, observation.now)


class StateStore(Protocol):
    def advance(self, observation: Observation) -> tuple[str, Transition | None]:
        """Apply one observation; the resulting state and the notice to send, if any."""

    def undeliver(self, transition: Transition) -> None:
        """No channel took the notice: let the next evaluation send it again."""


class DatabaseStore:
    """State in `alert_states`, shared by every process on the database."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def advance(self, observation: Observation) -> tuple[str, Transition | None]:
        key, now = observation.key, observation.now
        with self.database.transaction() as session:
            self._ensure_row(session, observation)
            # FOR UPDATE (PostgreSQL) queues a second evaluator here; SQLite's BEGIN IMMEDIATE
            # already did. The guarded UPDATE below is what guarantees a single notice.
            row = session.execute(
                select(AlertState.state, AlertState.since, AlertState.last_notified_at)
                .where(AlertState.key == key)
                .with_for_update()
            ).one()
            current = Status(row.state, row.since, row.last_notified_at)
            new, kind = step(current, observation.holds, observation.rule, now)
            notified = AlertState.last_notified_at
            result = session.execute(
                update(AlertState)
                .where(
                    AlertState.key == key,
                    AlertState.state == current.state,
                    AlertState.since == current.since,
                    notified.is_(None)
                    if current.last_notified_at is None
                    else notified == current.last_notified_at,
                )
                .values(
                    state=new.state,
                    since=new.since,
                    last_notified_at=new.last_notified_at,
                    value=observation.value,
                    summary=observation.summary,
                    updated_at=now,
                )
                .execution_options(synchronize_session=False)
            )
            if cast(CursorResult[object], result).rowcount != 1:
                return current.state, None  # another evaluator moved it first: theirs to send
        return new.state, _transition(observation, current, new, kind) if kind else None

    def _ensure_row(self, session: Session, observation: Observation) -> None:
        insert = sqlite_insert if self.database.is_sqlite else postgresql_insert
        session.execute(
            insert(AlertState)
            .values(
                key=observation.key,
                site_id=observation.site_id,
                rule=observation.rule.name,
                state=OK,
                since=observation.now,
                updated_at=observation.now,
            )
            .on_conflict_do_nothing(index_elements=["key"])
        )

    def undeliver(self, transition: Transition) -> None:
        with self.database.transaction() as session:
            session.execute(
                update(AlertState)
                .where(
                    AlertState.key == transition.key,
                    AlertState.state == FIRING,
                    AlertState.last_notified_at == transition.notified_at,
                )
                .values(last_notified_at=None)
                .execution_options(synchronize_session=False)
            )


class MemoryStore:
    """State in this process only: for when the database itself cannot be reached."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rows: dict[str, Status] = {}

    def advance(self, observation: Observation) -> tuple[str, Transition | None]:
        with self._lock:
            current = self._rows.get(observation.key, Status(OK, observation.now, None))
            new, kind = step(current, observation.holds, observation.rule, observation.now)
            self._rows[observation.key] = new
        return new.state, _transition(observation, current, new, kind) if kind else None

    def undeliver(self, transition: Transition) -> None:
        with self._lock:
            row = self._rows.get(transition.key)
            if row and row.state == FIRING and row.last_notified_at == transition.notified_at:
                self._rows[transition.key] = replace(row, last_notified_at=None)

    def status(self, key: str) -> str | None:
        """The state kept for ``key``, if any."""
        with self._lock:
            row = self._rows.get(key)
        return row.state if row else None

    def forget(self, key: str) -> None:
        with self._lock:
            self._rows.pop(key, None)
