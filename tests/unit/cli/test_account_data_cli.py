"""`forkable users export` and `forkable users delete`, run as an operator answering a mail."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from forkable.accounts.models import User
from forkable.accounts.passwords import fast_passwords
from forkable.accounts.service import create_user
from forkable.asgi import open_registry
from forkable.db import Database
from forkable.db.migrate import upgrade
from forkable.db.sync import sync_sites
from forkable.generations.models import Generation, HoldState, Status
from forkable.ledger.book import capture_hold, place_hold
from forkable.storage import LocalMediaStore

ROOT = Path(__file__).resolve().parents[3]
SITE = ROOT / "examples" / "coloringbook"
Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    upgrade(database)
    sync_sites(database, open_registry(SITE))
    yield database
    database.dispose()


@pytest.fixture
def run(tmp_path: Path, database_url: str, database: Database) -> Run:
    environ = {
        "PATH": "/usr/bin:/bin",
        "FORKABLE_DATA_DIR": str(tmp_path / "var"),
        "FORKABLE_DATABASE_URL": database_url,
        "FORKABLE_SITES": str(SITE),
        # The worktree's code, not whatever the interpreter's install points at.
        "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
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


def _user_with_an_image(database: Database, tmp_path: Path) -> tuple[int, dict[str, bytes]]:
    user = create_user(
        database,
        fast_passwords(),
        site_id="coloringbook",
        email="asker@example.com",
        password="a long enough passphrase",
        signup_bonus=3,
    )
    store = LocalMediaStore(tmp_path / "var" / "media")
    files = {
        "coloringbook/ab/ab01-input.jpg": b"the photo bytes",
        "coloringbook/ab/ab01-result-1.png": b"the result bytes",
    }
    for key, data in files.items():
        store.put(key, data, "application/octet-stream")
    with database.transaction() as session:
        session.add(
            Generation(
                id="ab01",
                site_id="coloringbook",
                user_id=user.id,
                status=Status.SUCCEEDED,
                hold_state=HoldState.CAPTURED,
                cost=1,
                input_key="coloringbook/ab/ab01-input.jpg",
                output_key="coloringbook/ab/ab01-result-1.png",
            )
        )
        session.flush()
        # Its cost was held and captured, as a real generation's is.
        place_hold(
            session, site_id="coloringbook", user_id=user.id, amount=1, ref="generation:ab01"
        )
        capture_hold(session, site_id="coloringbook", hold_ref="generation:ab01")
    return user.id, files


def test_export_then_delete(run: Run, database: Database, tmp_path: Path) -> None:
    user_id, files = _user_with_an_image(database, tmp_path)
    out = tmp_path / "asker.zip"

    exported = run("users", "export", "Asker@Example.com", "--out", str(out))
    assert exported.returncode == 0, exported.stderr
    assert exported.stdout.startswith(f"exported Asker@Example.com on coloringbook to {out}")
    archive = zipfile.ZipFile(io.BytesIO(out.read_bytes()))
    account = json.loads(archive.read("account.json"))
    assert account["profile"]["email"] == "asker@example.com"
    assert [entry["kind"] for entry in account["ledger"]] == [
        "signup_bonus",
        "generation_hold",
        "generation_capture",
    ]
    assert account["balance"]["available"] == 2
    assert archive.read("photos/ab01.jpg") == files["coloringbook/ab/ab01-input.jpg"]
    assert archive.read("results/ab01.png") == files["coloringbook/ab/ab01-result-1.png"]

    # Asked, and answered no: nothing happens.
    declined = run("users", "delete", "asker@example.com", stdin="n\n")
    assert declined.returncode != 0
    assert (tmp_path / "var" / "media" / "coloringbook" / "ab" / "ab01-input.jpg").exists()

    deleted = run("users", "delete", "asker@example.com", "--yes")
    assert deleted.returncode == 0, deleted.stderr
    assert deleted.stdout.strip() == (
        f"deleted user {user_id} on coloringbook: 1 photo(s) and 1 result(s) removed"
    )
    media = tmp_path / "var" / "media"
    assert not any(path.is_file() for path in media.rglob("*"))
    with database.session() as session:
        row = session.get(User, user_id)
        assert row is not None and row.email == f"deleted-{user_id}@erased.invalid"
        assert session.scalar(select(User.id).where(User.email == "asker@example.com")) is None

    verified = run("ledger", "verify")
    assert verified.returncode == 0, verified.stderr
    again = run("users", "delete", "asker@example.com", "--yes")
    assert again.returncode == 1
    assert again.stderr.strip() == "error: no user asker@example.com on coloringbook"
    finished = run("users", "finish-deletions")
    assert finished.returncode == 0, finished.stderr


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (("users", "export", "nobody@example.com", "--out", "x.zip"), "no user nobody@example.com"),
        (("users", "delete", "nobody@example.com", "--yes"), "no user nobody@example.com"),
        (("users", "delete", "a@example.com", "--site", "nope", "--yes"), "unknown site 'nope'"),
        (("users", "export", "a@example.com", "--site", "nope", "--out", "x.zip"), "unknown site"),
    ],
)
def test_unknown_user_or_site_is_one_line(
    run: Run, tmp_path: Path, args: tuple[str, ...], line: str
) -> None:
    answer = run(*[str(tmp_path / a) if a == "x.zip" else a for a in args])
    assert answer.returncode == 1
    [only] = answer.stderr.strip().splitlines()
    assert only.startswith("error: ") and line in only, answer.stderr
    assert not (tmp_path / "x.zip").exists()
