"""The readiness checks shared by /readyz and the readiness alert."""

from __future__ import annotations

import os
import tempfile
from typing import Any

from forkable.db import Database

Component = dict[str, Any]


def database_status(database: Database) -> Component:
    """A `SELECT 1`; any failure means not ready, and its type goes to the operator."""
    try:
        database.ping()
    except Exception as exc:
        return {"status": "error", "detail": type(exc).__name__}
    return {"status": "ok"}


def data_dir_status(data_dir: os.PathLike[str]) -> Component:
    """The data dir takes a new file (SQLite, media and the dev secret live there)."""
    try:
        with tempfile.NamedTemporaryFile(dir=data_dir, prefix=".readyz-"):
            pass
    except OSError as exc:
        return {"status": "error", "detail": f"data dir not writable: {exc.strerror}"}
    return {"status": "ok"}


def core_components(database: Database, data_dir: os.PathLike[str]) -> dict[str, Component]:
    """The components whose failure makes this process unready."""
    return {"database": database_status(database), "storage": data_dir_status(data_dir)}
