"""Random sign-ups, grants, submits, successes, failures and crashes keep every invariant."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

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
from sqlalchemy.orm import Session
from tests.factories import open_policy

from forkable.accounts.passwords import fast_passwords
from forkable.accounts.service import Principal, create_user
from forkable.db import Database
from forkable.db.base import Base, SiteRow
from forkable.db.migrate import upgrade
from forkable.db.types import utcnow
from forkable.generations import jobs
from forkable.generations.announce import Silent
from forkable.generations.models import Generation
from forkable.generations.service import submit
from forkable.generations.uploads import validate_image
from forkable.generations.verify import verify_all
from forkable.ledger.book import InsufficientTokens, credit, debit, get_balance
from forkable.ledger.models import EntryKind
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
            self.attempts: dict[str, int] = {}  # claims of each generation so far
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
                # Lease this very job (not the oldest) through the claim workers use.
                claimed = jobs.claim_next(
                    database, owner=OWNER, lease_seconds=3600, generation_id=job[0]
                )
                assert claimed is not None and claimed.id == job[0]
                self.attempts[job[0]] = self.attempts.get(job[0], 0) + 1
                assert claimed.attempt == self.attempts[job[0]]
                # Claimed once: a second claim of the same job finds nothing queued.
                assert (
                    jobs.claim_next(
                        database, owner="worker-b", lease_seconds=3600, generation_id=job[0]
                    )
                    is None
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
            actions = dict(jobs.reap(database, max_attempts=2, announcer=Silent()))
            if self.attempts[generation_id] >= 2:  # the last attempt: failed, tokens back
                assert actions.get(generation_id) == "failed"
                self.held[user] -= cost
                return ("", user, 0)
            assert actions.get(generation_id) == "requeued"
            return job

        @invariant()
        def ledger_holds(self) -> None:
            with database.session() as session:
                assert verify_all(session) == []
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


# -- tampering: one case per check of `ledger verify`, each with every violation it must report --
#
# The database each case starts from: user {user} has a sign-up bonus of 3 (entry {signup})
# and one queued generation {gen} holding 1 token (entry {hold}, ref generation:{gen}).
# Entries a case adds are named x1, x2 ... after their references.

Tamper = Callable[[Session, dict[str, Any]], None]


def _sql(session: Session, statement: str, **values: object) -> None:
    session.execute(text(statement), values)


def _add_entry(
    session: Session,
    known: dict[str, Any],
    kind: str,
    amount: int,
    held_delta: int,
    ref: str,
    *,
    hold_ref: str | None = None,
    records: tuple[int, int] | None = None,
    account: bool = True,
) -> None:
    """Append an entry whose recorded balance follows the entries before it (unless
    ``records`` says otherwise) and, with ``account``, move the cached balance to match."""
    last = session.execute(
        text(
            "SELECT balance_after, held_after FROM ledger_entries WHERE user_id = :u"
            " ORDER BY id DESC LIMIT 1"
        ),
        {"u": known["user"]},
    ).one()
    after = records or (last.balance_after + amount, last.held_after + held_delta)
    _sql(
        session,
        "INSERT INTO ledger_entries (site_id, user_id, kind, amount, held_delta, balance_after,"
        " held_after, ref, hold_ref, created_at) VALUES (:s, :u, :k, :a, :h, :ba, :ha, :r, :hr, :t)",
        s=SITE,
        u=known["user"],
        k=kind,
        a=amount,
        h=held_delta,
        ba=after[0],
        ha=after[1],
        r=ref,
        hr=hold_ref,
        t=utcnow(),
    )
    if account:
        _sql(
            session,
            "UPDATE token_accounts SET balance = :b, held = :h WHERE user_id = :u",
            b=after[0],
            h=after[1],
            u=known["user"],
        )


def _end_generation(session: Session, known: dict[str, Any], status: str, hold: str) -> None:
    _sql(
        session,
        "UPDATE generations SET status = :s, hold_state = :h WHERE id = :g",
        s=status,
        h=hold,
        g=known["gen"],
    )


def _resolve(kind: str, amount: int, held_delta: int, *, ref: str | None = None) -> Tamper:
    """Resolve the generation's hold with an entry of these numbers; the rest kept consistent."""

    def tamper(session: Session, known: dict[str, Any]) -> None:
        hold_ref = f"generation:{known['gen']}"
        resolution = ref or f"{hold_ref}:resolved"
        _add_entry(session, known, kind, amount, held_delta, resolution, hold_ref=hold_ref)
        capture = kind == "generation_capture"
        status, hold = ("succeeded", "captured") if capture else ("failed", "voided")
        _end_generation(session, known, status, hold)

    return tamper


def _other_site_account(session: Session, known: dict[str, Any]) -> None:
    _sql(
        session,
        "INSERT INTO sites (id, name, domain, created_at, updated_at) VALUES"
        " ('othersite', 'Other', 'other.example.com', :t, :t)",
        t=utcnow(),
    )
    _sql(session, "UPDATE token_accounts SET site_id = 'othersite'")


def _negative_in_between(session: Session, known: dict[str, Any]) -> None:
    # Held goes to -1 and back: only the entry in between is wrong, the totals agree.
    _add_entry(session, known, "admin_grant", 0, -2, "x1", account=False)
    _add_entry(session, known, "admin_grant", 0, 2, "x2")


def _double_resolution(session: Session, known: dict[str, Any]) -> None:
    hold_ref = f"generation:{known['gen']}"
    _add_entry(
        session, known, "generation_capture", -1, -1, f"{hold_ref}:resolved", hold_ref=hold_ref
    )
    _add_entry(
        session,
        known,
        "generation_void",
        0,
        -1,
        "x2",
        hold_ref=hold_ref,
        records=(2, 0),
        account=False,
    )
    _end_generation(session, known, "succeeded", "captured")


def _no_generation_for_the_hold(session: Session, known: dict[str, Any]) -> None:
    _sql(
        session,
        "UPDATE ledger_entries SET ref = 'generation:elsewhere' WHERE kind = 'generation_hold'",
    )


U = "propsite: user {user}: "
TAMPERING: dict[str, tuple[Tamper, list[str]]] = {
    "cached_balance": (
        lambda session, known: _sql(session, "UPDATE token_accounts SET balance = balance + 5"),
        [U + "cached balance 8/held 1 but entries sum to 3/1"],
    ),
    "entry_amount": (
        lambda session, known: _sql(
            session, "UPDATE ledger_entries SET amount = 4 WHERE kind = 'signup_bonus'"
        ),
        [
            U + "entry {signup} (signup_bonus signup:{user}) records 3/0 after it, "
            "the entries before it give 4/0",
            U + "entry {hold} (generation_hold generation:{gen}) records 3/1 after it, "
            "the entries before it give 4/1",
            U + "cached balance 3/held 1 but entries sum to 4/1",
        ],
    ),
    "no_account": (
        lambda session, known: _sql(session, "DELETE FROM token_accounts"),
        [
            U + "user has no token account",
            U + "entry {signup} (signup_bonus signup:{user}) has no token account",
            U + "entry {hold} (generation_hold generation:{gen}) has no token account",
        ],
    ),
    "another_sites_account": (
        _other_site_account,
        [
            U + "entry {signup} (signup_bonus signup:{user}) books on another site's account",
            U + "entry {hold} (generation_hold generation:{gen}) books on another site's account",
        ],
    ),
    "held_negative": (
        _negative_in_between,
        [U + "entry {x1} (admin_grant x1) leaves held tokens negative"],
    ),
    "overdraw": (
        lambda session, known: _add_entry(session, known, "admin_grant", -5, 0, "x1"),
        [U + "entry {x1} (admin_grant x1) overdraws the account"],
    ),
    "double_resolution": (
        _double_resolution,
        [
            U + "entry {x2} (generation_void x2) records 2/0 after it, "
            "the entries before it give 2/-1",
            U + "entry {x2} (generation_void x2) leaves held tokens negative",
            U + "cached balance 2/held 0 but entries sum to 2/-1",
            U + "hold generation:{gen} resolved 2 times",
            U + "hold generation:{gen} resolved by a stray entry",
        ],
    ),
    "stray_resolution": (
        _resolve("generation_void", 0, -1, ref="x1"),
        [U + "hold generation:{gen} resolved by a stray entry"],
    ),
    "released_another_amount": (
        _resolve("generation_void", 0, 0),
        [
            U + "hold generation:{gen} released a different amount",
            U + "open holds total 0 but the account holds 1",
        ],
    ),
    "captured_another_amount": (
        _resolve("generation_capture", -2, -1),
        [U + "hold generation:{gen} captured a different amount"],
    ),
    "void_changed_the_balance": (
        _resolve("generation_void", -1, -1),
        [U + "hold generation:{gen} void changed the balance"],
    ),
    "resolution_without_hold": (
        lambda session, known: _add_entry(
            session, known, "generation_void", 0, 0, "x1", hold_ref="generation:nothing"
        ),
        [U + "x1 resolves a hold that does not exist"],
    ),
    "open_holds": (
        lambda session, known: _add_entry(session, known, "admin_grant", 0, 1, "x1"),
        [U + "open holds total 1 but the account holds 2"],
    ),
    "generation_without_hold": (
        _no_generation_for_the_hold,
        [U + "generation {gen} has no hold"],
    ),
    "generation_cost": (
        lambda session, known: _sql(session, "UPDATE generations SET cost = 2"),
        [U + "generation {gen} held a different cost"],
    ),
    "generation_hold_state": (
        lambda session, known: _sql(session, "UPDATE generations SET hold_state = 'captured'"),
        [U + "generation {gen} says its hold is captured, the ledger says open"],
    ),
    "generation_status": (
        lambda session, known: _sql(session, "UPDATE generations SET status = 'succeeded'"),
        [U + "generation {gen} is succeeded but its hold is open"],
    ),
}


def _known_after(database: Database, user_id: int, generation_id: str) -> dict[str, Any]:
    """The ids the expected messages name: the user, the generation, and the entries."""
    with database.session() as session:
        rows = session.execute(
            text("SELECT ref, id FROM ledger_entries WHERE user_id = :u"), {"u": user_id}
        )
        entries: dict[str, int] = dict(rows.all())
    return {
        "user": user_id,
        "gen": generation_id,
        "signup": entries.get(f"signup:{user_id}"),
        "hold": entries.get(f"generation:{generation_id}", entries.get("generation:elsewhere")),
        "x1": entries.get("x1"),
        "x2": entries.get("x2"),
    }


@pytest.mark.parametrize("what", list(TAMPERING))
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
        with database.session() as session:
            assert verify_all(session) == []  # clean before the tampering
        tamper, expected = TAMPERING[what]
        with database.transaction() as session:
            tamper(session, {"user": user.id, "gen": made.generation.id})
        known = _known_after(database, user.id, made.generation.id)
        with database.session() as session:
            found = sorted(str(v) for v in verify_all(session))
        assert found == sorted(line.format(**known) for line in expected)
    finally:
        database.dispose()
