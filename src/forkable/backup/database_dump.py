"""Copying the database out while it serves, and loading a copy back in."""

from __future__ import annotations

import re
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, text
from sqlalchemy.engine import URL

from forkable.db import Database


class DumpError(Exception):
    """The database could not be copied or loaded; the message is one line for an operator."""


def sqlite_path(database: Database) -> Path:
    name = database.url.database
    if not name or name == ":memory:":
        raise DumpError("an in-memory SQLite database cannot be backed up")
    return Path(name)


def sqlite_backup(source: Path, dest: Path) -> None:
    """A consistent copy through SQLite's online backup API, never a copy of the live file.

    Writers keep going while it runs; the copy is of one moment, including what sits in the
    write-ahead log (a plain file copy would miss it, or catch a page half written).
    """
    with (
        sqlite3.connect(f"file:{source}?mode=ro", uri=True) as src,
        sqlite3.connect(dest) as dst,
    ):
        src.backup(dst)
    # The `with` above only commits; the connections close here.
    src.close()
    dst.close()


def sqlite_load(copy: Path, target: Path) -> None:
    """Write ``copy`` over ``target`` page by page through the backup API, in one step."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(copy) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    src.close()
    dst.close()


def libpq_url(url: URL) -> str:
    """The URL pg_dump and pg_restore understand (no `+psycopg` driver suffix)."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise DumpError(f"{name} is not installed (apt install postgresql-client)")
    return path


def major_version(version_output: str) -> int:
    match = re.search(r"(\d+)(?:\.\d+)?", version_output)
    if match is None:
        raise DumpError(f"cannot read the version of pg_dump from {version_output.strip()!r}")
    return int(match.group(1))


def check_pg_tool(name: str, connection: Connection) -> str:
    """The tool's path; DumpError when it is missing or older than the server."""
    path = _tool(name)
    output = subprocess.run(  # noqa: S603  # a PostgreSQL client tool, fixed arguments
        [path, "--version"], capture_output=True, text=True, check=True
    ).stdout
    tool_major = major_version(output)
    server_major = int(connection.execute(text("SHOW server_version_num")).scalar_one()) // 10000
    if tool_major < server_major:
        raise DumpError(
            f"{name} {tool_major} is older than the PostgreSQL {server_major} server: "
            f"install postgresql-client-{server_major}"
        )
    return path


@contextmanager
def postgres_snapshot(database: Database) -> Iterator[tuple[Connection, str]]:
    """A REPEATABLE READ transaction and its exported snapshot id, held open while in use.

    pg_dump started with `--snapshot` sees exactly what this transaction sees, so the media
    keys read here are the keys of the dumped rows.
    """
    with database.engine.connect() as connection:
        connection = connection.execution_options(isolation_level="REPEATABLE READ")
        with connection.begin():
            snapshot = connection.execute(text("SELECT pg_export_snapshot()")).scalar_one()
            yield connection, str(snapshot)


def pg_dump(database: Database, connection: Connection, snapshot: str, dest: Path) -> None:
    tool = check_pg_tool("pg_dump", connection)
    result = subprocess.run(  # noqa: S603  # pg_dump with the configured database URL
        [
            tool,
            "--format=custom",
            f"--snapshot={snapshot}",
            f"--file={dest}",
            f"--dbname={libpq_url(database.url)}",
        ],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise DumpError(f"pg_dump failed: {_last_line(result.stderr)}")


def pg_restore(database: Database, dump: Path) -> None:
    """Load a custom-format dump in one transaction: all of it, or nothing."""
    with database.engine.connect() as connection:
        tool = check_pg_tool("pg_restore", connection)
    result = subprocess.run(  # noqa: S603  # pg_restore with the configured database URL
        [
            tool,
            "--no-owner",
            "--no-privileges",
            "--clean",
            "--if-exists",
            "--single-transaction",
            "--exit-on-error",
            f"--dbname={libpq_url(database.url)}",
            str(dump),
        ],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise DumpError(f"pg_restore failed: {_last_line(result.stderr)}")


def _last_line(stderr: str) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    return lines[-1] if lines else "no message"
