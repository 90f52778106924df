"""The access log: lines like every other log line (JSON or text), written in batches."""

from __future__ import annotations

import io
import json
import logging
import threading
import time
from collections.abc import Iterator

import pytest
from tests.support.request_state import FakePrincipal, FakeSite
from tests.support.waiting import wait_until

from forkable.observability.access_log import AccessLog
from forkable.observability.logs import (
    ACCESS_LOGGER,
    MAX_LOGGED_PATH,
    JsonFormatter,
    RequestContext,
    TextFormatter,
    bind_request,
    log_request,
)


def _context(request_id: str = "req-9", *, signed_in: bool = True) -> RequestContext:
    state: dict[str, object] = {"site": FakeSite("petpix")}
    if signed_in:
        state["principal"] = FakePrincipal(4)
    return RequestContext(request_id, state)


def _log(stream: io.StringIO, **options: float) -> AccessLog:
    return AccessLog("json", stream=lambda: stream, **options)


@pytest.fixture(autouse=True)
def _access_logger_at_info() -> Iterator[None]:
    ACCESS_LOGGER.setLevel(logging.INFO)
    yield
    ACCESS_LOGGER.setLevel(logging.NOTSET)


@pytest.mark.parametrize("signed_in", [True, False])
def test_json_lines_match_what_the_logging_formatter_writes(
    signed_in: bool, caplog: pytest.LogCaptureFixture
) -> None:
    stream = io.StringIO()
    context = _context(signed_in=signed_in)
    _log(stream).request(context, "POST", "/api/v1/generations", "/api/v1/generations", 202, 17.456)

    fast = json.loads(stream.getvalue())

    # The same request through logging, as the text format (and earlier versions) write it.
    bind_request(context.request_id, context.state)
    with caplog.at_level(logging.INFO, logger="forkable.access"):
        log_request("POST", "/api/v1/generations", "/api/v1/generations", 202, 17.456)
    (record,) = caplog.records
    slow = json.loads(JsonFormatter().format(record))
    assert list(fast) == list(slow)  # the same keys in the same order
    assert {k: v for k, v in fast.items() if k != "ts"} == {
        k: v for k, v in slow.items() if k != "ts"
    }
    assert fast["ts"].endswith("Z") and len(fast["ts"]) == len("2026-11-27T07:00:00.000Z")


def test_paths_are_scrubbed_and_escaped() -> None:
    stream = io.StringIO()
    path = "/u/ada@example.com/fk_" + "x" * 40 + '/"quoted"\\back/é'
    _log(stream).request(_context(), "GET", path, "unmatched", 404, 1.0)

    line = json.loads(stream.getvalue())

    assert line["path"] == '/u/a***@example.com/[redacted]/"quoted"\\back/é'
    assert "ada@" not in stream.getvalue() and "fk_x" not in stream.getvalue()
    assert line["msg"] == f"GET {line['path']} 404 1.0 ms"


def test_started_it_writes_in_batches_and_close_writes_the_rest() -> None:
    stream = io.StringIO()
    log = _log(stream, flush_seconds=60)
    log.start()
    for number in range(3):
        log.request(_context(f"req-{number}"), "GET", "/", "/", 200, 1.0)
    assert stream.getvalue() == ""  # buffered until the next flush

    log.close()

    ids = [json.loads(line)["request_id"] for line in stream.getvalue().splitlines()]
    assert ids == ["req-0", "req-1", "req-2"]


def test_the_flusher_writes_within_its_interval() -> None:
    stream = io.StringIO()
    log = _log(stream, flush_seconds=0.05)
    log.start()
    try:
        log.request(_context(), "GET", "/", "/", 200, 1.0)
        deadline = time.monotonic() + 5
        while not stream.getvalue() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert json.loads(stream.getvalue())["route"] == "/"
    finally:
        log.close()


def test_a_full_buffer_wakes_the_writer_at_once() -> None:
    stream = io.StringIO()
    log = _log(stream, flush_seconds=60, max_buffered=2)
    log.start()
    try:
        log.request(_context("a"), "GET", "/", "/", 200, 1.0)
        assert stream.getvalue() == ""
        log.request(_context("b"), "GET", "/", "/", 200, 1.0)
        # Written by the writer thread long before its 60-second interval.
        wait_until(lambda: len(stream.getvalue().splitlines()) == 2, timeout=10)
    finally:
        log.close()


class _ThreadRecordingStream(io.StringIO):
    """A stream that notes which thread wrote each piece."""

    def __init__(self) -> None:
        super().__init__()
        self.writers: list[str] = []

    def write(self, text: str) -> int:
        self.writers.append(threading.current_thread().name)
        return super().write(text)


@pytest.mark.parametrize("log_format", ["json", "text"])
def test_started_the_request_formats_and_only_the_writer_thread_writes(log_format: str) -> None:
    stream = _ThreadRecordingStream()
    log = AccessLog(log_format, stream=lambda: stream, flush_seconds=60, max_buffered=2)
    log.start()
    try:
        log.request(_context(), "GET", "/u/ada@example.com", "unmatched", 404, 1.0)
        assert stream.writers == []  # queued, formatted: the event loop never writes
        log.request(_context(), "GET", "/", "/", 200, 1.0)
        wait_until(lambda: len(stream.getvalue().splitlines()) == 2, timeout=10)
    finally:
        log.close()
    assert set(stream.writers) == {"forkable-access-log"}
    assert "a***@example.com" in stream.getvalue() and "ada@" not in stream.getvalue()


def test_many_lines_are_written_in_order_a_slice_at_a_time() -> None:
    stream = _ThreadRecordingStream()
    log = _log(stream, flush_seconds=60)
    log.start()
    for number in range(1000):
        log.request(_context(f"req-{number}"), "GET", "/", "/", 200, 1.0)
    log.close()

    ids = [json.loads(line)["request_id"] for line in stream.getvalue().splitlines()]
    assert ids == [f"req-{number}" for number in range(1000)]
    assert len(stream.writers) > 10  # never all of them in one piece


@pytest.mark.parametrize("signed_in", [True, False])
def test_text_lines_match_what_the_logging_formatter_writes(
    signed_in: bool, caplog: pytest.LogCaptureFixture
) -> None:
    stream = io.StringIO()
    context = _context("req-late", signed_in=signed_in)
    log = AccessLog("text", stream=lambda: stream, flush_seconds=60)
    log.start()
    log.request(context, "GET", "/pricing?a=ada@example.com", "/pricing", 200, 2.456)
    log.close()
    fast = stream.getvalue()

    # The same request through logging, as earlier versions wrote it.
    bind_request(context.request_id, context.state)
    with caplog.at_level(logging.INFO, logger="forkable.access"):
        log_request("GET", "/pricing?a=ada@example.com", "/pricing", 200, 2.456)
    (record,) = caplog.records
    slow = TextFormatter().format(record) + "\n"
    stamp = len("12:00:01 ")
    assert fast[stamp:] == slow[stamp:]
    assert fast[: stamp - 1].count(":") == 2 and fast[: stamp - 1].replace(":", "").isdigit()
    assert ("user_id=4" in fast) is signed_in


def test_long_paths_are_cut_with_a_marker_and_never_half_an_address() -> None:
    stream = io.StringIO()
    # The limit falls inside the address: cutting there would log `ada.lovelace@examp`.
    head = "/p/" + "x" * (MAX_LOGGED_PATH - 14) + "/"
    path = head + "ada.lovelace@example.com/" + "y" * 5000
    _log(stream).request(_context(), "GET", path, "unmatched", 404, 1.0)

    logged = json.loads(stream.getvalue())["path"]

    assert len(logged) < MAX_LOGGED_PATH + 40
    assert logged.endswith(f"...[{len(path) - logged.index('...[')} more characters]")
    assert logged.startswith(head) and "ada" not in logged and "lovelace" not in logged


def test_control_characters_in_paths_cannot_forge_text_lines() -> None:
    stream = io.StringIO()
    forged = "/x\n12:00:00 INFO    forkable.access: GET /admin 200 1.0 ms\r\x1b[2K\x85\u2028"
    AccessLog("text", stream=lambda: stream).request(_context(), "GET", forged, forged, 404, 1.0)

    written = stream.getvalue()
    assert written.count("\n") == 1 and written.endswith("\n")  # one line, its own newline
    assert "\r" not in written and "\x1b" not in written and "\x85" not in written
    assert "\u2028" not in written
    assert "/x\\n12:00:00 INFO    forkable.access: GET /admin 200 1.0 ms\\r\\x1b[2K" in written


def test_not_started_every_line_is_written_at_once() -> None:
    stream = io.StringIO()
    _log(stream).request(_context(), "GET", "/", "/", 200, 1.0)
    assert stream.getvalue().count("\n") == 1


def test_the_access_logger_level_turns_lines_off() -> None:
    stream = io.StringIO()
    ACCESS_LOGGER.setLevel(logging.WARNING)
    _log(stream).request(_context(), "GET", "/", "/", 200, 1.0)
    assert stream.getvalue() == ""


def test_a_repeated_request_keeps_its_own_duration_and_ids() -> None:
    stream = io.StringIO()
    log = _log(stream)
    log.request(_context("first"), "GET", "/api/v1/packs", "/api/v1/packs", 200, 1.0)
    log.request(_context("second"), "GET", "/api/v1/packs", "/api/v1/packs", 200, 2.345)
    log.request(_context("third"), "GET", "/api/v1/packs", "/api/v1/packs", 304, 0.5)

    lines = [json.loads(line) for line in stream.getvalue().splitlines()]

    assert [line["msg"] for line in lines] == [
        "GET /api/v1/packs 200 1.0 ms",
        "GET /api/v1/packs 200 2.3 ms",
        "GET /api/v1/packs 304 0.5 ms",
    ]
    assert [line["duration_ms"] for line in lines] == [1.0, 2.35, 0.5]
    assert [line["request_id"] for line in lines] == ["first", "second", "third"]
