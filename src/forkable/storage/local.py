"""Media in a local folder: written atomically, read only through authorised routes."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from forkable.storage.base import MissingMedia, checked_key


class LocalMediaStore:
    """Files under ``root``; a crash mid-write never leaves a partial file under a key."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._root = os.fspath(root)

    def _path(self, key: str) -> str:
        # A string, not a Path: pathlib interns each part of every path it parses, and keys
        # are unique per file, so the interpreter's table of interned strings would churn with
        # every read and write and, resized in the middle of that, grow by megabytes
        # (docs/benchmarks.md, "Soak").
        return os.path.join(self._root, checked_key(key))

    def put(self, key: str, data: bytes, content_type: str) -> None:
        path = self._path(key)
        folder = os.path.dirname(path)
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            _unlink(tmp)
            raise

    def get(self, key: str) -> bytes:
        try:
            with open(self._path(key), "rb") as handle:
                return handle.read()
        except FileNotFoundError:
            raise MissingMedia(key) from None

    def delete(self, key: str) -> None:
        _unlink(self._path(key))

    def check(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=self.root, prefix=".readyz-"):
            pass


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
