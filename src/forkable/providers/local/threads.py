"""OpenCV's threads, shared among the local filters running at once in this process.

OpenCV splits a call across a pool of threads, as many as it finds cores. For one filter on an
otherwise idle machine that pays: a 1600-px photo through `coloring_book` takes about 104 ms
instead of 137 ms on 2 cores. With as many filters running as there are cores the split only
costs: every call waits for its slowest part, and the pool's threads compete with the other
filters for the same cores (2 workers on 2 cores made about 5% more photos a second with one
thread each). So each running filter gets an equal share of OpenCV's threads, at least one,
and the share is recomputed as filters start and end.

OpenCV's setting is one per process, so the share is one per process too
(`OPENCV_THREADS`); its starting count is OpenCV's own default, which already honours
`OPENCV_FOR_THREADS_NUM`, CPU affinity and container CPU limits.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import cv2


class ThreadShare:
    """Gives each of the filters running at once ``total // running`` threads (at least 1)."""

    def __init__(self, total: int, set_threads: Callable[[int], None]) -> None:
        self.total = max(1, total)
        self._set_threads = set_threads
        self._lock = threading.Lock()
        self._running = 0
        self._threads = self.total

    @property
    def running(self) -> int:
        with self._lock:
            return self._running

    @property
    def threads(self) -> int:
        """What each running filter gets now (``total`` when none runs)."""
        with self._lock:
            return self._threads

    @contextmanager
    def share(self) -> Iterator[None]:
        """Count one more filter running for the duration of the block."""
        self._change(+1)
        try:
            yield
        finally:
            self._change(-1)

    def _change(self, delta: int) -> None:
        with self._lock:
            self._running += delta
            threads = max(1, self.total // max(1, self._running))
            if threads != self._threads:
                # Under the lock, so that the last change made is the one OpenCV keeps.
                self._set_threads(threads)
                self._threads = threads


OPENCV_THREADS = ThreadShare(cv2.getNumThreads(), cv2.setNumThreads)
