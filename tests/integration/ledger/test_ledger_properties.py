"""Random sign-ups, grants, submits, successes, failures and crashes keep every invariant."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    rule,
    run_state_machine_as_test,
)
from PIL import Image
from sqlalchemy import text, update
from tests.factories import open_policy

from forkable.accounts.passwords import fast_passwords
from forkable.accounts.service import Principal, create_user
from forkable.db import Database
from forkable.db.base import Base, SiteRow
from forkable.db.migrate import upgrade
from forkable.db.types import utcnow
from forkable.generations import jobs
from forkable.generations.models import Generation
from forkable.generations.service import submit
from forkable.generations.uploads import validate_image
from forkable.ledger.book import InsufficientTokens, credit, debit, get_balance
from forkable.ledger.models import EntryKind
from forkable.ledger.verify import verify
from forkable.providers.base import BLOCKED, Usage
from forkable.storage import LocalMediaStore

SITE = "propsite"
OWNER = "worker-a"


def _tiny_image() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), (200, 100, 50)).save(buffer, format="PNG")
    return buffer.getvalue()


def _reset(database: Database) -> None:
    with database.transaction() as session:
        for table in reversed(Base.metadata.sorted_tables):
            session.execute(table.delete())
        session.add(SiteRow(id=SITE, name="Prop", domain="prop.example.com"))


def build_machine(database: Database, media: Path) -> type[RuleBasedStateMachine]:
    passwords = fast_passwords()
    store = LocalMediaStore(media)
    image = validate_image(_tiny_image(), max_bytes=10_000_000)

    class LedgerMachine(RuleBasedStateMachine):
        users = Bundle("users")
        queued = Bundle("queued")
        running = Bundle("running")

        def __init__(self) -> None:
            super().__init__()
            _reset(database)
            self.balance: dict[int, int] = {}
            self.held: dict[int, int] = {}
            self.counter = 0

        @rule(target=users, bonus=st.integers(min_value=0, max_value=4))
        def sign_up(self, bonus: int) -> int:
            self.counter += 1
            user = create_user(
                database,
                passwords,
                site_id=SITE,
                email=f"u{self.counter}@example.com",
                password="a good long passphrase",
                signup_bonus=bonus,
            )
            self.balance[user.id], self.held[user.id] = bonus, 0
            return user.id

        @rule(user=users, amount=st.integers(min_value=-5, max_value=6).filter(bool))
        def grant(self, user: int, amount: int) -> None:
            self.counter += 1
            ref = f"grant:{self.counter}"
            with database.transaction() as session:
                if amount > 0:
                    credit(
                        session,
                        site_id=SITE,
                        user_id=user,
                        amount=amount,
                        kind=EntryKind.ADMIN_GRANT,
                        ref=ref,
                    )
                    self.balance[user] += amount
                    return
                try:
                    debit(
                        session,
                        site_id=SITE,
                        user_id=user,
                        amount=-amount,
                        kind=EntryKind.ADMIN_GRANT,
                        ref=ref,
                    )
                except InsufficientTokens:
                    assert self.balance[user] - self.held[user] < -amount
                    return
                self.balance[user] += amount

        @rule(target=queued, user=users, cost=st.integers(min_value=1, max_value=3))
        def submit(self, user: int, cost: int) -> tuple[str, int, int]:
            principal = Principal(user, SITE, "x", False, "session")
            try:
                made = submit(
                    database,
                    store,
                    principal,
                    image=image,
                    style=None,
                    policy=open_policy(cost),
                    idempotency_key=None,
                )
            except InsufficientTokens:
                assert self.balance[user] - self.held[user] < cost
                return ("", user, 0)
            self.held[user] += cost
            return (made.generation.id, user, cost)

        @rule(target=running, job=consumes(queued))
        def claim(self, job: tuple[str, int, int]) -> tuple[str, int, int]:
            if job[0]:
                # Lease this very job (not the oldest), with the guarded update workers use.
                with database.transaction() as session:
                    session.execute(
                        update(Generation)
                        .where(Generation.id == job[0], Generation.status == "queued")
                        .values(
                            status="running",
                            lease_owner=OWNER,
                            attempts=Generation.attempts + 1,
                            lease_expires_at=utcnow() + timedelta(hours=1),
                        )
                    )
            return job

        @rule(job=consumes(running))
        def succeed(self, job: tuple[str, int, int]) -> None:
            generation_id, user, cost = job
            if not generation_id:
                return
            done = jobs.complete(
                database,
                generation_id,
                owner=OWNER,
                provider="test",
                output_key="x",
                usage=Usage(),
                duration_ms=1,
            )
            assert done
            self.balance[user] -= cost
            self.held[user] -= cost
            # A second resolution of the same hold is refused and changes nothing.
            assert not jobs.fail(database, generation_id, owner=OWNER, reason=BLOCKED)

        @rule(job=consumes(running))
        def fail(self, job: tuple[str, int, int]) -> None:
            generation_id, user, cost = job
            if not generation_id:
                return
            assert jobs.fail(database, generation_id, owner=OWNER, reason=BLOCKED)
            self.held[user] -= cost
            assert not jobs.complete(
                database,
                generation_id,
                owner=OWNER,
                provider="test",
                output_key="x",
                usage=Usage(),
                duration_ms=1,
            )

        @rule(target=queued, job=consumes(running))
        def crash(self, job: tuple[str, int, int]) -> tuple[str, int, int]:
            """The worker dies; its lease (already past) is reaped: back to the queue or failed."""
            generation_id, user, cost = job
            if not generation_id:
                return job
            with database.transaction() as session:
                session.execute(
                    update(Generation)
                    .where(Generation.id == generation_id)
                    .values(lease_expires_at=utcnow() - timedelta(seconds=1))
                )
            actions = dict(jobs.reap(database, max_attempts=2))
            if actions.get(generation_id) == "failed":
                self.held[user] -= cost
                return ("", user, 0)
            assert actions.get(generation_id) == "requeued"
            return job

        @invariant()
        def ledger_holds(self) -> None:
            with database.session() as session:
                assert verify(session) == []
                for user, balance in self.balance.items():
                    actual = get_balance(session, user)
                    assert (actual.balance, actual.held) == (balance, self.held[user])
                    assert actual.available >= 0

    return LedgerMachine


def test_ledger_state_machine(database_url: str, tmp_path: Path) -> None:
    database = Database(database_url)
    upgrade(database)
    try:
        machine = build_machine(database, tmp_path / "media")
        run_state_machine_as_test(
            machine,
            settings=settings(
                max_examples=30 if database.is_sqlite else 15,
                stateful_step_count=25,
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
            ),
        )
    finally:
        database.dispose()


@pytest.mark.parametrize("what", ["balance", "entry", "double_resolution"])
def test_verify_finds_tampering(database_url: str, tmp_path: Path, what: str) -> None:
    database = Database(database_url)
    upgrade(database)
    try:
        _reset(database)
        user = create_user(
            database,
            fast_passwords(),
            site_id=SITE,
            email="t@example.com",
            password="a good long passphrase",
            signup_bonus=3,
        )
        store = LocalMediaStore(tmp_path / "media")
        image = validate_image(_tiny_image(), max_bytes=10_000_000)
        made = submit(
            database,
            store,
            Principal(user.id, SITE, "x", False, "session"),
            image=image,
            style=None,
            policy=open_policy(),
            idempotency_key=None,
        )
        with database.transaction() as session:
            if what == "balance":
                session.execute(text("UPDATE token_accounts SET balance = balance + 5"))
            elif what == "entry":
                session.execute(
                    text("UPDATE ledger_entries SET amount = 4 WHERE kind = 'signup_bonus'")
                )
            else:
                for kind in ("generation_capture", "generation_void"):
                    session.execute(
                        text(
                            "INSERT INTO ledger_entries (site_id, user_id, kind, amount, held_delta,"
                            " balance_after, held_after, ref, hold_ref, created_at) VALUES"
                            " (:s, :u, :k, 0, -1, 3, 0, :r, :h, :t)"
                        ),
                        {
                            "s": SITE,
                            "u": user.id,
                            "k": kind,
                            "r": f"x:{kind}",
                            "h": f"generation:{made.generation.id}",
                            "t": utcnow(),
                        },
                    )
        with database.session() as session:
            violations = verify(session)
        assert violations, what
        assert all(str(v).startswith(f"{SITE}: user {user.id}: ") for v in violations)
    finally:
        database.dispose()
