"""Running `forkable backup` / `forkable restore` as an operator would, against real databases."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select, text

from forkable.accounts.models import User
from forkable.db import Database
from forkable.generations.models import Generation
from forkable.ledger.models import LedgerEntry, TokenAccount
from forkable.payments.models import Purchase
from forkable.storage import LocalMediaStore, MediaStore, MissingMedia

ROOT = Path(__file__).resolve().parents[3]
SITE = ROOT / "examples" / "coloringbook"


@dataclass(frozen=True)
class Place:
    """Where one deployment keeps its data: a database URL and a data dir (media inside)."""

    database_url: str
    data_dir: Path
    extra_env: tuple[tuple[str, str], ...] = ()

    def environ(self) -> dict[str, str]:
        return {
            "PATH": "/usr/bin:/bin",
            "HOME": str(self.data_dir.parent),
            "FORKABLE_DATA_DIR": str(self.data_dir),
            "FORKABLE_DATABASE_URL": self.database_url,
            "FORKABLE_SITES": str(SITE),
            # The worktree's code, not whatever the interpreter's install points at.
            "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
            **dict(self.extra_env),
        }

    def forkable(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "forkable", *args],
            capture_output=True,
            text=True,
            env=self.environ(),
            timeout=180,
            check=False,
        )

    def media(self) -> MediaStore:
        return LocalMediaStore(self.data_dir / "media")


@pytest.fixture
def empty_database_url(
    request: pytest.FixtureRequest, database_url: str, tmp_path: Path
) -> Iterator[str]:
    """A second, empty database on the same engine as ``database_url``."""
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'target' / 'forkable.sqlite3'}"
        return
    admin_url: str = request.getfixturevalue("postgres_admin_url")
    name = f"forkable_restore_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def target(empty_database_url: str, tmp_path: Path) -> Place:
    return Place(empty_database_url, tmp_path / "target")


StateOf = Callable[[Place], dict[str, object]]


def state_of(place: Place, store: MediaStore | None = None) -> dict[str, object]:
    """What a restore must reproduce: users, balances, entries, purchases, generations, bytes."""
    database = Database(place.database_url)
    store = store or place.media()
    try:
        with database.session() as session:

            def rows(*columns: Any) -> list[tuple[Any, ...]]:
                return sorted(tuple(row) for row in session.execute(select(*columns)))

            users = rows(User.id, User.email)
            balances = rows(TokenAccount.user_id, TokenAccount.balance, TokenAccount.held)
            entries = rows(LedgerEntry.id, LedgerEntry.kind, LedgerEntry.amount)
            purchases = rows(Purchase.id, Purchase.status)
            generations = rows(
                Generation.id, Generation.status, Generation.input_key, Generation.output_key
            )
    finally:
        database.dispose()
    images: dict[str, bytes | None] = {}
    for _id, _status, *keys in generations:
        for key in keys:
            if key:
                try:
                    images[key] = store.get(key)
                except MissingMedia:
                    images[key] = None
    return {
        "users": users,
        "balances": balances,
        "entries": entries,
        "purchases": purchases,
        "generations": generations,
        "images": images,
    }
