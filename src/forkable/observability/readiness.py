"""The readiness checks shared by /readyz and the readiness alert."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
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


def media_status(check: Callable[[], None]) -> Component:
    """The media store's own check (a folder takes a file, a bucket takes an object)."""
    try:
        check()
    except Exception as exc:
        return {"status": "error", "detail": str(exc) or type(exc).__name__}
    return {"status": "ok"}


def core_components(
    database: Database,
    data_dir: os.PathLike[str],
    check_media: Callable[[], None] | None = None,
) -> dict[str, Component]:
    """The components whose failure makes this process unready.

    ``check_media`` is the media store's check where the store is at hand (the server); without
    it, storage means the data dir.
    """
    storage = data_dir_status(data_dir) if check_media is None else media_status(check_media)
    return {"database": database_status(database), "storage": storage}
