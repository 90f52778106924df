"""`forkable users create`, `tokens grant` and `ledger verify`, run as an operator would."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import text

from forkable.asgi import open_registry
from forkable.db import Database
from forkable.db.migrate import upgrade
from forkable.db.sync import sync_sites

ROOT = Path(__file__).resolve().parents[3]
Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def run(tmp_path: Path, database_url: str) -> Run:
    database = Database(database_url)
    upgrade(database)
    sync_sites(database, open_registry(ROOT / "examples" / "coloringbook"))
    database.dispose()
    environ = {
        "PATH": "/usr/bin:/bin",
        "FORKABLE_DATA_DIR": str(tmp_path / "var"),
        "FORKABLE_DATABASE_URL": database_url,
    }

    def forkable(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "forkable", *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=environ,
            timeout=60,
            check=False,
        )

    return forkable


def test_create_grant_revoke_verify(run: Run, database_url: str) -> None:
    created = run(
        "users",
        "create",
        "Admin@Example.com",
        "--admin",
        "--password-stdin",
        stdin="a long admin passphrase\n",
    )
    assert created.returncode == 0, created.stderr
    assert created.stdout.startswith("created admin admin@example.com")

    generated = run("users", "create", "bob@example.com")
    assert generated.returncode == 0
    assert "password: " in generated.stdout

    granted = run("tokens", "grant", "admin@example.com", "10", "--reason", "launch gift")
    assert granted.returncode == 0 and "available now 10" in granted.stdout
    revoked = run("tokens", "grant", "admin@example.com", "-4", "--reason", "typo")
    assert revoked.returncode == 0 and "available now 6" in revoked.stdout
    too_much = run("tokens", "grant", "admin@example.com", "-40", "--reason", "no")
    assert too_much.returncode == 1
    assert too_much.stderr.strip() == (
        "error: Cannot revoke 40 tokens: admin@example.com has only 6 tokens available."
    )

    verified = run("ledger", "verify")
    assert verified.returncode == 0 and verified.stdout.startswith(
        "ledger ok: 2 accounts, 2 entries"
    )

    database = Database(database_url)
    with database.session() as session:
        actions = session.execute(text("SELECT actor, action FROM audit_log ORDER BY id")).all()
    assert [tuple(row) for row in actions] == [("cli", "tokens.grant"), ("cli", "tokens.revoke")]
    with database.transaction() as session:
        session.execute(text("UPDATE token_accounts SET balance = 99 WHERE balance = 6"))
    database.dispose()
    broken = run("ledger", "verify")
    assert broken.returncode == 1
    lines = broken.stderr.strip().splitlines()
    assert lines[0].startswith("coloringbook: user ")
    assert "cached balance 99" in lines[0]
    assert lines[-1] == "1 violation found"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["users", "create", "x@example.com", "--site", "nope"], "unknown site 'nope'"),
        (["users", "create", "not-an-email"], "Enter a valid e-mail address"),
        (
            ["tokens", "grant", "ghost@example.com", "5", "--reason", "x"],
            "no user ghost@example.com",
        ),
        (["tokens", "grant", "ghost@example.com", "0", "--reason", "x"], "AMOUNT must not be 0"),
    ],
)
def test_user_errors_are_one_line(run: Run, args: list[str], message: str) -> None:
    result = run(*args)
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1
    assert message in result.stderr
