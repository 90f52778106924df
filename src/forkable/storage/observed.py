"""A media store that tells an observer how long each call took and which ones failed.

One wrapper around the `MediaStore` interface serves every backend, so the stores themselves
stay free of metrics. A missing object (`MissingMedia`) is an answer, not a failure.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol, TypeVar

from forkable.settings.media_url import MediaBucket, MediaInDatabase, MediaLocation
from forkable.storage.base import MediaStore, MissingMedia

T = TypeVar("T")


class MediaObserver(Protocol):
    def call(self, store: str, operation: str, seconds: float, failed: bool) -> None: ...


def store_kind(location: MediaLocation) -> str:
    """The ``store`` label of a media location: ``local``, ``db`` or ``s3``."""
    if isinstance(location, MediaInDatabase):
        return "db"
    if isinstance(location, MediaBucket):
        return "s3"
    return "local"


class ObservedMediaStore:
    """``store``'s calls (put, get, delete, check), timed and counted under the label ``kind``."""

    def __init__(self, store: MediaStore, observer: MediaObserver, kind: str) -> None:
        self.store = store
        self.observer = observer
        self.kind = kind

    def _timed(self, operation: str, call: Callable[[], T]) -> T:
        started = time.perf_counter()
        failed = True
        try:
            result = call()
            failed = False
            return result
        except MissingMedia:
            failed = False
            raise
        finally:
            self.observer.call(self.kind, operation, time.perf_counter() - started, failed)

    def put(self, key: str, data: bytes, content_type: str) -> None:
        self._timed("put", lambda: self.store.put(key, data, content_type))

    def get(self, key: str) -> bytes:
        return self._timed("get", lambda: self.store.get(key))

    def delete(self, key: str) -> None:
        self._timed("delete", lambda: self.store.delete(key))

    def check(self) -> None:
        self._timed("check", self.store.check)
