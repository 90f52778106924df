"""`forkable db upgrade` from two processes at once, and `forkable serve` refusing a
PostgreSQL schema that is not up to date."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text
from tests.serving import free_port
from tests.support.waiting import wait_until

from forkable.db import Database, migrate
from forkable.db.migrate import current_revision, head_revision
from forkable.schema import Base

ROOT = Path(__file__).resolve().parents[2]
SITE = ROOT / "examples" / "coloringbook"


def _forkable(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "forkable", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _environment(tmp_path: Path, database_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "FORKABLE_DATA_DIR": str(tmp_path / "var"),
        "FORKABLE_DATABASE_URL": database_url,
    }


def test_two_upgrades_at_once_take_turns_on_the_lock(tmp_path: Path, postgres_url: str) -> None:
    """Both start while the test holds the migrators' advisory lock, so both are inside
    `upgrade` at once; released, one applies the migrations and the other finds them done."""
    env = _environment(tmp_path, postgres_url)
    engine = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as holder, engine.connect() as watcher:
            holder.execute(text("SELECT pg_advisory_lock(:k)"), {"k": migrate._LOCK_KEY})
            upgrades = [_forkable(env, "db", "upgrade") for _ in range(2)]
            try:

                def both_wait() -> bool:
                    waiting = watcher.execute(
                        text(
                            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
                            " AND NOT granted AND objid = :k AND database ="
                            " (SELECT oid FROM pg_database WHERE datname = current_database())"
                        ),
                        {"k": migrate._LOCK_KEY},
                    ).scalar_one()
                    return bool(waiting == 2)

                wait_until(both_wait, timeout=60)
            finally:
                holder.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": migrate._LOCK_KEY})
            results = [(*p.communicate(timeout=60), p.returncode) for p in upgrades]
    finally:
        engine.dispose()
    for _out, err, code in results:
        assert code == 0, err
        assert "Traceback" not in err
    database = Database(postgres_url)
    try:
        assert current_revision(database) == head_revision(database)
        with database.engine.connect() as connection:
            versions = connection.execute(text("SELECT version_num FROM alembic_version")).all()
        assert len(versions) == 1
        tables = set(inspect(database.engine).get_table_names()) - {"alembic_version"}
        # The job queue's own tables (Procrastinate's) come with the schema on PostgreSQL.
        ours = {name for name in tables if not name.startswith("procrastinate_")}
        assert ours == set(Base.metadata.tables)
    finally:
        database.dispose()


def _one_behind(database_url: str) -> str:
    database = Database(database_url)
    try:
        head = head_revision(database)
    finally:
        database.dispose()
    scripts = ScriptDirectory(str(Path(migrate.__file__).parent / "migrations"))
    revision = scripts.get_revision(head)
    assert revision is not None and isinstance(revision.down_revision, str)
    return revision.down_revision


@pytest.mark.parametrize("schema", ["empty", "one_behind"])
def test_serve_refuses_a_postgresql_schema_that_is_not_up_to_date(
    tmp_path: Path, postgres_url: str, schema: str
) -> None:
    env = _environment(tmp_path, postgres_url) | {"FORKABLE_SCHEMA_WAIT_SECONDS": "1"}
    if schema == "one_behind":
        older = _forkable(env, "db", "upgrade", _one_behind(postgres_url))
        _out, err = older.communicate(timeout=60)
        assert older.returncode == 0, err
    serve = _forkable(env, "serve", str(SITE), "--port", str(free_port()))
    try:
        # A server that started instead would still be running: TimeoutExpired, red.
        _out, err = serve.communicate(timeout=60)
    finally:
        if serve.poll() is None:
            serve.kill()
            serve.wait()
    assert serve.returncode == 1
    assert err.strip().splitlines()[-1] == (
        "error: the database schema is out of date: run `forkable db upgrade` first"
    )
    assert "Traceback" not in err
    database = Database(postgres_url)
    try:  # and it changed nothing: migrating is the operator's step
        expected = None if schema == "empty" else _one_behind(postgres_url)
        assert current_revision(database) == expected
    finally:
        database.dispose()
