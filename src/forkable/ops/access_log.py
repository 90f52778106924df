"""The access log: one line per answered request, built directly and written in batches.

Through `logging`, a line costs a LogRecord, a handler lock, a formatter walking a dict and a
write to stderr, about as much as serving a small API call. An access line always has the
same fields, so in JSON (production) it is built with one f-string, the same keys in the same
order as `JsonFormatter` writes, and appended to a buffer that a flusher thread writes out a
few times a second, all lines at once; `close()` writes what is left. The part of a line that
depends only on the method, path, route and status (scrubbed, JSON-escaped) is kept for the
next request like it, as most requests repeat a few hundred paths. A process killed with
SIGKILL loses at most the last `flush_seconds` of access lines (never other log lines).

The human-readable development format goes through `logging` as every other line does.
Either way the logger "forkable.access" decides: raising its level turns the lines off.
"""

from __future__ import annotations

import functools
import logging
import sys
import threading
from collections import deque
from collections.abc import Callable
from json.encoder import encode_basestring
from typing import TextIO

from forkable.ops.logs import ACCESS_LOGGER, RequestContext, SecondStamp, log_request, scrub_text
from forkable.periodic import Periodic


class AccessLog:
    """Writes one line per request; start() begins batching, close() flushes and stops."""

    def __init__(
        self,
        log_format: str,
        *,
        flush_seconds: float = 0.25,
        max_buffered: int = 1000,
        stream: Callable[[], TextIO] = lambda: sys.stderr,
    ) -> None:
        self.json = log_format == "json"
        self.flush_seconds = flush_seconds
        self.max_buffered = max_buffered
        self._stream = stream
        self._stamp = SecondStamp()
        self._fragments = functools.lru_cache(maxsize=1024)(_fragments)
        # deque.append and popleft are atomic: request threads never wait for the writer.
        self._lines: deque[str] = deque()
        self._write_lock = threading.Lock()
        self._flusher = Periodic("forkable-access-log", flush_seconds, self.flush)

    def request(
        self,
        context: RequestContext,
        method: str,
        path: str,
        route: str,
        status: int,
        millis: float,
    ) -> None:
        """Record an answered request (``millis`` from the first byte in to the last out)."""
        if not ACCESS_LOGGER.isEnabledFor(logging.INFO):
            return
        if not self.json:
            log_request(method, path, route, status, millis)
            return
        message_head, fields = self._fragments(method, path, route, status)
        site, user_id = context.site_id, context.user_id
        # request_id is a checked token and a site id a slug: neither needs JSON escaping.
        site_field = "" if site is None else f', "site": "{site}"'
        user_field = "" if user_id is None else f', "user_id": {user_id}'
        line = (
            f'{{"ts": "{self._stamp.iso()}", "level": "info", "logger": "forkable.access", '
            f'"msg": {message_head}{millis:.1f} ms", "request_id": "{context.request_id}"'
            f'{site_field}{user_field}, {fields}, "duration_ms": {millis:.2f}}}\n'
        )
        self._lines.append(line)
        if not self._flusher.running or len(self._lines) >= self.max_buffered:
            self.flush()

    def start(self) -> None:
        """Batch lines from now on, written every ``flush_seconds`` by a thread."""
        if self.json:
            self._flusher.start()

    def close(self) -> None:
        """Stop the flusher and write every buffered line."""
        self._flusher.stop()
        self.flush()

    def flush(self) -> None:
        """Write every buffered line, in order, in one write."""
        with self._write_lock:
            lines = self._lines
            batch = [lines.popleft() for _ in range(len(lines))]
            if not batch:
                return
            stream = self._stream()
            try:
                stream.write("".join(batch))
                stream.flush()
            except (OSError, ValueError):
                pass  # stderr closed or gone: the lines cannot be written anywhere


def _fragments(method: str, path: str, route: str, status: int) -> tuple[str, str]:
    """The start of a line's message, up to its duration, and its request fields, as JSON."""
    path = scrub_text(path)
    # The duration and " ms" that follow need no escaping, so the closing quote comes later.
    message_head = encode_basestring(f"{method} {path} {status} ")[:-1]
    fields = (
        f'"event": "request", "method": {encode_basestring(method)}, '
        f'"path": {encode_basestring(path)}, "route": {encode_basestring(route)}, '
        f'"status": {status}'
    )
    return message_head, fields
