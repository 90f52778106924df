"""What the soak checks after (and during) the run: the tokens in the database, the server's
resident memory, and the command-line tools an operator would run."""

from __future__ import annotations

import math
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from soak_traffic import Ledger

# --- commands --------------------------------------------------------------------------------


@dataclass
class Command:
    argv: list[str]
    returncode: int
    seconds: float
    output: str  # stdout and stderr, stripped

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def forkable(args: list[str], env: Mapping[str, str], timeout: float = 300) -> Command:
    """Run `forkable ARGS` as an operator would, with the site's environment."""
    argv = [sys.executable, "-m", "forkable", *args]
    started = time.monotonic()
    done = subprocess.run(
        argv,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )
    output = (done.stdout + done.stderr).strip()
    return Command(["forkable", *args], done.returncode, time.monotonic() - started, output)


# --- the tokens ------------------------------------------------------------------------------


def database_file(data_dir: Path) -> Path:
    return data_dir / "forkable.sqlite3"


@dataclass
class Tokens:
    """Sums over every user, from the ledger and the rows it must agree with."""

    bought: int  # `purchase` entries
    granted: int  # `signup_bonus` and `admin_grant` entries
    spent: int  # `generation_capture` entries (negated)
    clawed_back: int  # `clawback` entries (negated): none, as the soak refunds nothing
    held: int  # token_accounts.held
    available: int  # token_accounts.balance - held: what users can still spend
    paid_purchase_tokens: int  # purchases with status paid
    expected_bought: int  # the packs Stripe took the money for, as the clients know them
    succeeded_cost: int  # generations succeeded (their holds captured)
    open_hold_cost: int  # generations queued or running (their holds open)
    verified_users: int
    signup_bonus: int
    checks: dict[str, bool] = field(default_factory=dict)

    @property
    def conserved(self) -> bool:
        return all(self.checks.values())


def read_tokens(data_dir: Path, ledger: Ledger, signup_bonus: int) -> Tokens:
    """The token sums, read in one transaction (one consistent moment)."""
    with sqlite3.connect(database_file(data_dir)) as db:
        db.execute("BEGIN")
        kinds = dict(db.execute("SELECT kind, SUM(amount) FROM ledger_entries GROUP BY kind"))
        balance, held = db.execute(
            "SELECT COALESCE(SUM(balance), 0), COALESCE(SUM(held), 0) FROM token_accounts"
        ).fetchone()
        paid = db.execute(
            "SELECT COALESCE(SUM(tokens), 0) FROM purchases WHERE status = 'paid'"
        ).fetchone()[0]
        succeeded = db.execute(
            "SELECT COALESCE(SUM(cost), 0) FROM generations"
            " WHERE status = 'succeeded' AND hold_state = 'captured'"
        ).fetchone()[0]
        open_holds = db.execute(
            "SELECT COALESCE(SUM(cost), 0) FROM generations WHERE hold_state = 'open'"
        ).fetchone()[0]
        verified = db.execute(
            "SELECT COUNT(*) FROM users WHERE email_verified_at IS NOT NULL"
        ).fetchone()[0]
        db.execute("COMMIT")
    with ledger.lock:
        expected = sum(ledger.purchases[p] for p in ledger.paid)
    tokens = Tokens(
        bought=kinds.get("purchase", 0),
        granted=kinds.get("signup_bonus", 0) + kinds.get("admin_grant", 0),
        spent=-kinds.get("generation_capture", 0),
        clawed_back=-kinds.get("clawback", 0),
        held=held,
        available=balance - held,
        paid_purchase_tokens=paid,
        expected_bought=expected,
        succeeded_cost=succeeded,
        open_hold_cost=open_holds,
        verified_users=verified,
        signup_bonus=signup_bonus,
    )
    tokens.checks = {
        "bought + granted = spent + clawed back + held + available": tokens.bought + tokens.granted
        == tokens.spent + tokens.clawed_back + tokens.held + tokens.available,
        "bought = tokens of paid purchases": tokens.bought == tokens.paid_purchase_tokens,
        "bought = packs Stripe was paid for": tokens.bought == tokens.expected_bought,
        "spent = cost of succeeded generations": tokens.spent == tokens.succeeded_cost,
        "held = cost of generations in flight": tokens.held == tokens.open_hold_cost,
        "granted = bonus x verified users": tokens.granted
        == tokens.signup_bonus * tokens.verified_users,
        "nothing clawed back": tokens.clawed_back == 0,
    }
    return tokens


@dataclass
class Outcomes:
    """Generations and acknowledged writes, from the database against what clients saw."""

    generations: dict[str, int]  # status/hold_state -> count
    succeeded: int
    failed_refunded: int
    failed_not_refunded: int
    in_flight: int
    lost: dict[str, int]  # acknowledged to a client, missing (or changed back) in the database
    purchases: dict[str, int]  # status -> count
    stripe_events: dict[str, int]  # outcome -> count


def read_outcomes(data_dir: Path, ledger: Ledger) -> Outcomes:
    with sqlite3.connect(database_file(data_dir)) as db:
        rows = db.execute("SELECT id, status, hold_state, deleted_at FROM generations").fetchall()
        users = {email for (email,) in db.execute("SELECT email FROM users")}
        purchase_rows = dict(db.execute("SELECT id, status FROM purchases").fetchall())
        events = dict(db.execute("SELECT outcome, COUNT(*) FROM stripe_events GROUP BY outcome"))
    by_id = {row[0]: row for row in rows}
    kinds: dict[str, int] = {}
    for _id, status, hold, _deleted in rows:
        kinds[f"{status}/{hold}"] = kinds.get(f"{status}/{hold}", 0) + 1
    with ledger.lock:
        seen = dict(ledger.generations)
        lost = {
            "users": len(ledger.users - users),
            "generations": sum(1 for g in seen if g not in by_id),
            "results gone back": sum(
                1
                for g, status in seen.items()
                if status == "succeeded" and g in by_id and by_id[g][1] != "succeeded"
            ),
            "deletes undone": sum(
                1 for g in ledger.deleted if g not in by_id or by_id[g][3] is None
            ),
            "purchases": sum(1 for p in ledger.purchases if p not in purchase_rows),
            "payments not credited": sum(1 for p in ledger.paid if purchase_rows.get(p) != "paid"),
        }
    purchases: dict[str, int] = {}
    for status in purchase_rows.values():
        purchases[status] = purchases.get(status, 0) + 1
    return Outcomes(
        generations=kinds,
        succeeded=kinds.get("succeeded/captured", 0),
        failed_refunded=kinds.get("failed/voided", 0),
        failed_not_refunded=sum(n for k, n in kinds.items() if k.startswith("failed/"))
        - kinds.get("failed/voided", 0),
        in_flight=kinds.get("queued/open", 0) + kinds.get("running/open", 0),
        lost=lost,
        purchases=purchases,
        stripe_events=events,
    )


def finished_generations(data_dir: Path) -> int | None:
    """Generations with a result or a failure so far (None while the file is busy)."""
    try:
        with sqlite3.connect(database_file(data_dir), timeout=1) as db:
            (count,) = db.execute(
                "SELECT COUNT(*) FROM generations WHERE finished_at IS NOT NULL"
            ).fetchone()
        return int(count)
    except sqlite3.Error:
        return None


def unfinished_generations(data_dir: Path) -> int:
    with sqlite3.connect(database_file(data_dir), timeout=5) as db:
        (count,) = db.execute(
            "SELECT COUNT(*) FROM generations WHERE status IN ('queued', 'running')"
        ).fetchone()
    return int(count)


# --- resident memory -------------------------------------------------------------------------


GROWTH_TARGET = 1024  # bytes of resident memory per generation, after warm-up
# A segment is judged only with this many seconds of traffic after its warm-up: resident memory
# swings by megabytes with the work in flight, and a shorter fit cannot tell 1 KB per
# generation from none.
FIT_AT_LEAST = 600.0
INTERVAL_SAMPLES = 5  # every 10 s at the soak's 2-s sampling


@dataclass(frozen=True)
class Sample:
    at: float  # seconds since the run started
    segment: int  # 1 before the SIGKILL, 2 after the restart
    rss_kb: int
    finished: int  # generations finished by then (across both processes)
    database_kb: int = 0  # the SQLite file's size then
    sqlite_kb: int | None = None  # the heap SQLite held in the server then (its page caches)


def rss_kb(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def sqlite_kb(url: str) -> int | None:
    """The heap SQLite holds in the server, from its `/metrics` (None when not answered)."""
    try:
        text = httpx.get(f"{url}/metrics", timeout=2).text
    except httpx.HTTPError:
        return None
    for line in text.splitlines():
        if line.startswith("forkable_sqlite_memory_bytes{"):
            return int(float(line.rsplit(" ", 1)[1])) // 1024
    return None


@dataclass
class Growth:
    """The slope of RSS against generations finished (and against time), after the warm-up."""

    segment: int
    samples: int
    generations: int  # finished during the fitted stretch
    seconds: float
    bytes_per_generation: float | None
    kb_per_minute: float | None
    start_mb: float
    end_mb: float
    # Sen's 95% interval of bytes_per_generation: how finely the run can tell growth apart.
    low: float | None = None
    high: float | None = None
    sqlite_start_mb: float | None = None  # SQLite's heap in the server, as start_mb and end_mb
    sqlite_end_mb: float | None = None


def theil_sen(xs: list[float], ys: list[float]) -> float:
    """The median of the slopes between every two points with different x.

    Unlike a least-squares line it ignores the short spikes of resident memory a password
    hash makes (64 MiB while it runs, caught by some samples): up to ~29% of the points may be
    anywhere without moving it.
    """
    slopes = [
        (ys[j] - ys[i]) / (xs[j] - xs[i])
        for i in range(len(xs))
        for j in range(i + 1, len(xs))
        if xs[j] != xs[i]
    ]
    return statistics.median(slopes)


def sen_interval(
    xs: list[float], ys: list[float], z: float = 1.96, every: int = 1
) -> tuple[float, float]:
    """Sen's confidence interval of the Theil-Sen slope: the pairwise slopes ranked, and the
    ones ``z`` standard deviations of Kendall's statistic either side of the median.

    Only one point in ``every`` counts as independent (samples close in time share the work in
    flight): the share of slopes the interval leaves out is that of ``len(xs) / every`` points,
    taken from all the slopes, so the interval always holds `theil_sen`'s estimate.
    """
    slopes = sorted(
        (ys[j] - ys[i]) / (xs[j] - xs[i])
        for i in range(len(xs))
        for j in range(i + 1, len(xs))
        if xs[j] != xs[i]
    )
    n = len(xs) / every
    pairs = n * (n - 1) / 2
    spread = z * math.sqrt(n * (n - 1) * (2 * n + 5) / 18)
    inside = min(1.0, spread / pairs) if pairs > 0 else 1.0
    last = len(slopes) - 1
    lower = max(0, math.floor(len(slopes) * (1 - inside) / 2))
    upper = min(last, math.ceil(len(slopes) * (1 + inside) / 2))
    return slopes[lower], slopes[upper]


def fit_growth(samples: list[Sample], segment: int, warmup: float, until: float) -> Growth | None:
    """The line through a segment's samples from ``warmup`` seconds after its start until
    the traffic stopped (``until``): the drain after it makes no images to fit against."""
    mine = [s for s in samples if s.segment == segment and s.at <= until]
    if not mine:
        return None
    fitted = [s for s in mine if s.at >= mine[0].at + warmup]
    if len(fitted) < 3:
        return Growth(segment, len(fitted), 0, 0.0, None, None, mine[0].rss_kb / 1024, 0.0)
    done = [float(s.finished) for s in fitted]
    rss = [s.rss_kb * 1024.0 for s in fitted]
    times = [s.at for s in fitted]
    per_generation = low = high = None
    if max(done) > min(done):
        per_generation = theil_sen(done, rss)
        low, high = sen_interval(done, rss, every=INTERVAL_SAMPLES)
    per_second = theil_sen(times, rss)
    return Growth(
        segment=segment,
        samples=len(fitted),
        generations=int(max(done) - min(done)),
        seconds=times[-1] - times[0],
        bytes_per_generation=per_generation,
        kb_per_minute=per_second * 60 / 1024,
        # Medians of the first and last five samples: one sample may be a hash's spike.
        start_mb=statistics.median(s.rss_kb for s in fitted[:5]) / 1024,
        end_mb=statistics.median(s.rss_kb for s in fitted[-5:]) / 1024,
        low=low,
        high=high,
        sqlite_start_mb=_median_mb([s.sqlite_kb for s in fitted[:5]]),
        sqlite_end_mb=_median_mb([s.sqlite_kb for s in fitted[-5:]]),
    )


def _median_mb(readings: list[int | None]) -> float | None:
    known = [kb for kb in readings if kb is not None]
    return statistics.median(known) / 1024 if known else None


def trimmed_rss(pid: int) -> dict[str, int | None] | None:
    """VmRSS before and after asking glibc to give back the free memory it keeps
    (`malloc_trim(0)` called in the server through gdb): what of the growth is free heap the
    allocator held on to, rather than memory in use. None without gdb."""
    if shutil.which("gdb") is None:
        return None
    before = rss_kb(pid)
    call = ["gdb", "-p", str(pid), "-batch", "-ex", "call (int)malloc_trim(0)"]
    try:
        subprocess.run(call, capture_output=True, timeout=60, check=False)
    except subprocess.TimeoutExpired:
        return None
    return {"before_kb": before, "after_kb": rss_kb(pid)}


def memory_verdict(growths: list[Growth]) -> dict[str, Any]:
    """Flat, GROWING, not resolved (the interval holds the target) or not judged (no segment
    ran FIT_AT_LEAST seconds past its warm-up)."""
    fitted = [
        g for g in growths if g.bytes_per_generation is not None and g.seconds >= FIT_AT_LEAST
    ]
    worst = max((g.bytes_per_generation or 0.0 for g in fitted), default=None)
    judged = bool(fitted)
    if not fitted:
        verdict = (
            f"not judged: no segment ran {FIT_AT_LEAST:.0f} s past its warm-up; for memory, "
            "run longer with the kill late (--seconds 7200 --kill-at 0.9)"
        )
        ok = True
    elif any((g.low or 0.0) > GROWTH_TARGET for g in fitted):
        ok = False
        verdict = f"GROWING: worst segment {worst:.0f} B/generation, above the target"
    elif all((g.high or 0.0) < GROWTH_TARGET for g in fitted):
        ok = True
        verdict = f"flat: worst segment {worst:.0f} B/generation, below the target"
    else:
        # Longer runs narrow the interval.
        ok = True
        verdict = (
            f"not resolved: worst segment {worst:.0f} B/generation, but its 95% interval "
            f"holds {GROWTH_TARGET} B; run longer to tell"
        )
    return {
        "judged": judged,
        "ok": ok,
        "verdict": verdict,
        "worst_bytes_per_generation": worst,
    }
