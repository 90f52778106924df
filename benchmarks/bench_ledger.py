"""Concurrent ledger transactions per second on PostgreSQL (and SQLite), with zero violations.

Usage: .venv/bin/python benchmarks/bench_ledger.py [--seconds 10] [--pg-clients 32] [--sqlite-clients 8]
Writes its section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import random
import secrets
import statistics
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from common import machine, percentile, scratch_postgres, today, write_section
from sqlalchemy import event, func, select
from sqlalchemy.exc import DBAPIError

from forkable.accounts.passwords import fast_passwords
from forkable.accounts.service import create_user
from forkable.db import Database
from forkable.db.base import SiteRow
from forkable.db.migrate import upgrade
from forkable.generations.verify import verify_all
from forkable.ledger.book import InsufficientTokens, capture_hold, debit, place_hold, void_hold
from forkable.ledger.models import EntryKind, LedgerEntry, TokenAccount

SITE_ID = "bench"
USERS = 32
RICH_BONUS = 10_000_000
# Small enough that the hot threads drain it in the first seconds: from then on every
# hold on this account must be refused by the guarded UPDATE, never booked below zero.
SCARCE_BONUS = 100


# --- databases ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Accounts:
    rich: list[int]
    scarce: int

    @property
    def hot(self) -> list[int]:
        """The contended accounts: the first rich user and the scarce one."""
        return [self.rich[0], self.scarce]

    @property
    def everyone(self) -> list[int]:
        return [*self.rich, self.scarce]


def prepare(database: Database) -> Accounts:
    """Migrate, add one site and USERS users with token accounts and a sign-up bonus."""
    upgrade(database)
    with database.transaction() as session:
        session.add(SiteRow(id=SITE_ID, name="Ledger bench", domain="bench.example.com"))
    passwords = fast_passwords()
    ids = [
        create_user(
            database,
            passwords,
            site_id=SITE_ID,
            email=f"user{number}@example.com",
            password=secrets.token_urlsafe(16),
            signup_bonus=SCARCE_BONUS if number == 0 else RICH_BONUS,
        ).id
        for number in range(USERS)
    ]
    return Accounts(rich=ids[1:], scarce=ids[0])


# --- load -----------------------------------------------------------------------------------


@dataclass
class Tally:
    """What one client saw; merged after the run."""

    committed: int = 0
    refused: int = 0  # InsufficientTokens: the guard said no, nothing was booked
    errors: int = 0  # anything else the database raised
    entries: int = 0  # ledger entries the committed transactions wrote
    latencies: list[float] = field(default_factory=list)


def one_transaction(database: Database, rng: random.Random, user_id: int) -> int:
    """A generation's whole ledger life in one transaction; the entries it wrote.

    Mostly hold then capture, sometimes hold then void (a failed generation), sometimes a
    plain debit, so every booking function the app uses runs under contention.
    """
    amount = rng.randint(1, 3)
    ref = f"generation:{uuid.uuid4().hex}"
    roll = rng.random()
    with database.transaction() as session:
        if roll < 0.1:
            debit(
                session,
                site_id=SITE_ID,
                user_id=user_id,
                amount=amount,
                kind=EntryKind.ADMIN_GRANT,
                ref=ref,
            )
            return 1
        place_hold(session, site_id=SITE_ID, user_id=user_id, amount=amount, ref=ref)
        if roll < 0.2:
            void_hold(session, site_id=SITE_ID, hold_ref=ref, reason="bench")
        else:
            capture_hold(session, site_id=SITE_ID, hold_ref=ref)
    return 2


def client(database: Database, targets: list[int], stop_at: float, seed: int, tally: Tally) -> None:
    rng = random.Random(seed)
    while time.monotonic() < stop_at:
        started = time.perf_counter()
        try:
            tally.entries += one_transaction(database, rng, rng.choice(targets))
        except InsufficientTokens:
            tally.refused += 1
            continue
        except DBAPIError:
            tally.errors += 1
            continue
        tally.committed += 1
        tally.latencies.append(time.perf_counter() - started)


def run_load(database: Database, accounts: Accounts, clients: int, seconds: float) -> Tally:
    """``clients`` threads for ``seconds``; half of them hammer the two hot accounts."""
    tallies = [Tally() for _ in range(clients)]
    stop_at = time.monotonic() + seconds
    threads = [
        threading.Thread(
            target=client,
            args=(database, accounts.hot if n % 2 else accounts.everyone, stop_at, n, tallies[n]),
        )
        for n in range(clients)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    total = Tally()
    for tally in tallies:
        total.committed += tally.committed
        total.refused += tally.refused
        total.errors += tally.errors
        total.entries += tally.entries
        total.latencies.extend(tally.latencies)
    return total


# --- checks ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Checked:
    violations: list[str]
    min_balance: int
    min_available: int
    entries_found: int
    scarce_available: int


def check(database: Database, accounts: Accounts) -> Checked:
    """`forkable.ledger.verify` plus the balances' floor and an entry count."""
    with database.session() as session:
        violations = [str(v) for v in verify_all(session)]
        min_balance, min_available = session.execute(
            select(
                func.min(TokenAccount.balance), func.min(TokenAccount.balance - TokenAccount.held)
            )
        ).one()
        entries = session.scalar(select(func.count()).select_from(LedgerEntry)) or 0
        scarce = session.get(TokenAccount, accounts.scarce)
    return Checked(
        violations=violations,
        min_balance=min_balance,
        min_available=min_available,
        entries_found=entries,
        scarce_available=scarce.available if scarce else -1,
    )


class StatementCounter:
    """Counts the SQL statements an engine sends: round trips are what a transaction waits on."""

    def __init__(self, database: Database) -> None:
        self.count = 0
        event.listen(database.engine, "before_cursor_execute", self._count)

    def _count(self, *_args: object) -> None:
        self.count += 1  # one += under the GIL is enough for a statistic


@dataclass(frozen=True)
class EngineResult:
    engine: str
    clients: int
    seconds: float
    tally: Tally
    checked: Checked
    statements: int  # sent during the load, BEGIN/COMMIT not included
    client_cpu: float  # CPU seconds of this process (every client thread) during the load

    @property
    def ops_per_second(self) -> float:
        return self.tally.committed / self.seconds

    @property
    def ok(self) -> bool:
        """No violation, no negative balance, and every committed entry and no other exists."""
        c = self.checked
        return (
            not c.violations
            and c.min_balance >= 0
            and c.min_available >= 0
            and c.entries_found == USERS + self.tally.entries
        )


def bench(engine: str, url: str, clients: int, seconds: float) -> EngineResult:
    database = Database(url)
    try:
        accounts = prepare(database)
        counter = StatementCounter(database)
        started, cpu = time.monotonic(), time.process_time()
        tally = run_load(database, accounts, clients, seconds)
        elapsed, cpu = time.monotonic() - started, time.process_time() - cpu
        statements = counter.count
        checked = check(database, accounts)
    finally:
        database.dispose()
    result = EngineResult(engine, clients, elapsed, tally, checked, statements, cpu)
    print(
        f"{engine}: {result.ops_per_second:.0f} tx/s, committed {tally.committed}, "
        f"refused {tally.refused}, errors {tally.errors}, violations {len(checked.violations)}, "
        f"ok {result.ok}",
        flush=True,
    )
    for violation in checked.violations[:20]:
        print("  ", violation)
    return result


# --- report ---------------------------------------------------------------------------------


def row(r: EngineResult) -> str:
    ms = [x * 1000 for x in r.tally.latencies]
    c = r.checked
    return (
        f"| {r.engine} | {r.clients} | {r.ops_per_second:.0f} | {statistics.median(ms):.1f} | "
        f"{percentile(ms, 0.99):.1f} | {r.tally.committed} | {r.tally.refused} | "
        f"{r.tally.errors} | {len(c.violations)} | {c.min_balance} / {c.min_available} | "
        f"{c.entries_found} = {USERS} + {r.tally.entries} | {'yes' if r.ok else '**no**'} |"
    )


def cost_row(r: EngineResult) -> str:
    attempts = r.tally.committed + r.tally.refused + r.tally.errors
    return f"| {r.engine} | {r.statements / attempts:.1f} | {r.client_cpu * 1000 / attempts:.1f} |"


def busy(r: EngineResult) -> float:
    """The client process's CPU use during the load, in cores."""
    return r.client_cpu / r.seconds


def report(args: argparse.Namespace, pg: EngineResult, sqlite: EngineResult) -> str:
    verdict = "met" if pg.ok and sqlite.ok else "**not met**"
    return f"""## Ledger under concurrent debits

Run on {today()}: {machine()}.
Command: `.venv/bin/python benchmarks/bench_ledger.py --seconds {args.seconds:g} --pg-clients {args.pg_clients} --sqlite-clients {args.sqlite_clients}`.

A scratch database per engine (PostgreSQL 127.0.0.1:5432, created and dropped by the run; SQLite
in a temp dir with the app's pragmas), migrated with `forkable.db.migrate.upgrade`, one site and
{USERS} users made with `create_user` (fast password hashing): {USERS - 1} with
{RICH_BONUS:,} tokens and one "scarce" user with {SCARCE_BONUS}. Each client is a thread running,
for {args.seconds:g} s, one `Database.transaction()` after another through `forkable.ledger.book`:
`place_hold` then `capture_hold` (80 %), `place_hold` then `void_hold` (10 %), or `debit` (10 %),
1-3 tokens each. Half the clients pick only the two hot accounts (one rich, the scarce one, which
runs dry in the first seconds so its holds must be refused), the other half any account. The
benchmark process (the clients) and the database share the machine's 2 cores.

Afterwards `forkable.ledger.verify.verify_all()` recomputes every balance from its entries, the lowest
balance and available amount are read, and the entry count must equal the sign-up bonuses plus
exactly the entries of the committed transactions. Latency is per committed transaction.

| engine | clients | committed tx/s | median ms | p99 ms | committed | refused (no tokens) | errors | violations | min balance / available | entries | all checks pass |
| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |
{row(pg)}
{row(sqlite)}

What each transaction costs the client, per attempted transaction (committed or refused):
SQL statements sent (not counting BEGIN and COMMIT), and CPU of the benchmark process (SQLAlchemy,
psycopg or sqlite3, and forkable's code). The clients of one process share one GIL, so that CPU
bounds the rate: PostgreSQL's clients kept {busy(pg):.0%} of a core busy, SQLite's {busy(sqlite):.0%}.

| engine | statements per transaction | client CPU ms per transaction |
| --- | --- | --- |
{cost_row(pg)}
{cost_row(sqlite)}

The scarce account ended with {pg.checked.scarce_available} (PostgreSQL) and
{sqlite.checked.scarce_available} (SQLite) tokens available: drained, never overdrawn.

**PostgreSQL, {pg.clients} clients: {pg.ops_per_second:.0f} committed transactions/s**
(SQLite, {sqlite.clients} clients: {sqlite.ops_per_second:.0f}/s). Target: zero violations, no
negative balance and not one entry lost or added, on both engines: {verdict}. (No rate was set as
a target; the rate is recorded to catch regressions.)
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--pg-clients", type=int, default=32)
    parser.add_argument("--sqlite-clients", type=int, default=8)
    args = parser.parse_args()
    with scratch_postgres("bench_ledger") as url:
        pg = bench("PostgreSQL", url, args.pg_clients, args.seconds)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'ledger.sqlite3'}"
        sqlite = bench("SQLite", url, args.sqlite_clients, args.seconds)
    body = report(args, pg, sqlite)
    write_section("ledger", body)
    print(body)


if __name__ == "__main__":
    main()
