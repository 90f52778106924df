"""The access log: one line per answered request, written off the event loop.

Answering a request formats its line (a few microseconds: see below) and appends it to a
queue; a writer thread writes the queued lines a few times a second, a slice at a time, so a
slow stderr never holds up the event loop; `close()` writes what is left. The writer only joins
and writes ready-made text: it used to format the lines itself, in batches of hundreds, and
held the GIL meanwhile while the event loop waited for it (Python hands the GIL over every
5 ms), which put tens of milliseconds on the landing page's p99 under load (docs/benchmarks.md).

Through `logging`, a line costs a LogRecord, a handler lock, a formatter walking a dict and a
write to stderr, about as much as serving a small API call. An access line always has the
same fields, so it is built with one f-string, in JSON (production) the same keys in the same
order as `JsonFormatter` writes, in text (development) the line `TextFormatter` writes. The
part of a line that depends only on the method, path, route and status (scrubbed, escaped) is
kept for the next request like it, as most requests repeat a few hundred paths. A process
killed with SIGKILL loses at most the last `flush_seconds` of access lines (never other log
lines).

Either way the logger "forkable.access" decides: raising its level turns the lines off.
"""

from __future__ import annotations

import functools
import logging
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from json.encoder import encode_basestring
from typing import TextIO

from forkable.observability.logs import (
    ACCESS_LOGGER,
    RequestContext,
    SecondStamp,
    bounded,
    escape_controls,
    scrub_text,
)

logger = logging.getLogger(__name__)

# Lines joined and written at a time: each slice holds the GIL for tens of microseconds, and
# the write itself lets it go.
_SLICE = 64


class AccessLog:
    """Writes one line per request; start() begins writing from a thread, close() stops it."""

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
        self._clock = _LocalClock()
        self._line = self._json_line if self.json else self._text_line
        self._fragments = functools.lru_cache(maxsize=1024)(
            _json_fragments if self.json else _text_fragments
        )
        # deque.append and popleft are atomic: the event loop never waits for the writer.
        self._lines: deque[str] = deque()
        self._write_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._writer: threading.Thread | None = None

    def request(
        self,
        context: RequestContext,
        method: str,
        path: str,
        route: str,
        status: int,
        millis: float,
    ) -> None:
        """Log an answered request (``millis`` from the first byte in to the last out)."""
        if not ACCESS_LOGGER.isEnabledFor(logging.INFO):
            return
        self._lines.append(self._line(context, method, path, route, status, millis, time.time()))
        if self._writer is None:
            self.flush()  # not started (tests, scripts): written at once
        elif len(self._lines) >= self.max_buffered:
            self._wake.set()  # the writer goes now instead of at its next interval

    def start(self) -> None:
        """Write lines from a thread from now on, every ``flush_seconds``."""
        if self._writer is not None:
            return
        self._stop.clear()
        self._writer = threading.Thread(target=self._run, name="forkable-access-log", daemon=True)
        self._writer.start()

    def close(self) -> None:
        """Stop the writer and write every line still queued."""
        writer, self._writer = self._writer, None
        if writer is not None:
            self._stop.set()
            self._wake.set()
            writer.join(5.0)
        self.flush()

    def flush(self) -> None:
        """Write every queued line, in order."""
        with self._write_lock:
            lines = self._lines
            if not lines:
                return
            stream = self._stream()
            try:
                while lines:
                    stream.write("".join([lines.popleft() for _ in range(min(len(lines), _SLICE))]))
                stream.flush()
            except (OSError, ValueError):
                lines.clear()  # stderr closed or gone: the lines cannot be written anywhere

    def _json_line(
        self,
        context: RequestContext,
        method: str,
        path: str,
        route: str,
        status: int,
        millis: float,
        created: float,
    ) -> str:
        message_head, fields = self._fragments(method, path, route, status)
        site, user_id = context.site_id, context.user_id
        # request_id is a checked token and a site id a slug: neither needs JSON escaping.
        site_field = "" if site is None else f', "site": "{site}"'
        user_field = "" if user_id is None else f', "user_id": {user_id}'
        return (
            f'{{"ts": "{self._stamp.iso(created)}", "level": "info", '
            f'"logger": "forkable.access", "msg": {message_head}{millis:.1f} ms", '
            f'"request_id": "{context.request_id}"{site_field}{user_field}, {fields}, '
            f'"duration_ms": {millis:.2f}}}\n'
        )

    def _text_line(
        self,
        context: RequestContext,
        method: str,
        path: str,
        route: str,
        status: int,
        millis: float,
        created: float,
    ) -> str:
        message_head, fields = self._fragments(method, path, route, status)
        site, user_id = context.site_id, context.user_id
        # As above: the request id, the site and the user id need no escaping.
        site_field = "" if site is None else f" site={site}"
        user_field = "" if user_id is None else f" user_id={user_id}"
        return (
            f"{self._clock.text(created)} INFO    forkable.access: {message_head}{millis:.1f} ms"
            f"  request_id={context.request_id}{site_field}{user_field} {fields} "
            f"duration_ms={round(millis, 2)}\n"
        )

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.flush_seconds)
            self._wake.clear()
            try:
                self.flush()
            except Exception:  # the writer must outlive any bug in one line
                logger.exception("the access log could not write its lines")


class _LocalClock:
    """`HH:MM:SS` in local time, as `TextFormatter` stamps its lines, formatted once a second."""

    def __init__(self) -> None:
        self._last = (-1, "")  # one tuple, so that threads never see half of an update

    def text(self, created: float) -> str:
        second = int(created)
        last = self._last
        if second == last[0]:
            return last[1]
        text = time.strftime("%H:%M:%S", time.localtime(second))
        self._last = (second, text)
        return text


def _json_fragments(method: str, path: str, route: str, status: int) -> tuple[str, str]:
    """The start of a line's message, up to its duration, and its request fields, as JSON."""
    path = scrub_text(bounded(path))
    # The duration and " ms" that follow need no escaping, so the closing quote comes later.
    message_head = encode_basestring(f"{method} {path} {status} ")[:-1]
    fields = (
        f'"event": "request", "method": {encode_basestring(method)}, '
        f'"path": {encode_basestring(path)}, "route": {encode_basestring(route)}, '
        f'"status": {status}'
    )
    return message_head, fields


def _text_fragments(method: str, path: str, route: str, status: int) -> tuple[str, str]:
    """The same two parts as `TextFormatter` writes them, control characters escaped."""
    path = scrub_text(bounded(path))
    message_head = escape_controls(f"{method} {path} {status} ")
    fields = escape_controls(
        f"event=request method={method} path={path} route={route} status={status}"
    )
    return message_head, fields
