"""Structured logs: JSON and text lines, request context, and masking of secrets."""

from __future__ import annotations

import json
import logging
import sys

import pytest
from tests.support.request_state import FakePrincipal, FakeSite

from forkable.observability.logs import (
    REDACTED,
    JsonFormatter,
    RequestIds,
    SecondStamp,
    StderrHandler,
    TextFormatter,
    bind_request,
    configure_logging,
    is_secret_name,
    log_request,
    mask_email,
    scrub_text,
)


def record(message: str, *args: object, **extra: object) -> logging.LogRecord:
    made = logging.LogRecord("forkable.test", logging.INFO, __file__, 1, message, args, None)
    for key, value in extra.items():
        setattr(made, key, value)
    return made


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("ada@example.com", "a***@example.com"),
        (
            "login for Ada.Lovelace+x@mail.example.co.uk failed",
            "login for A***@mail.example.co.uk failed",
        ),
        ("to a@b.io and bob@example.com", "to a***@b.io and b***@example.com"),
        ("no address here @ all", "no address here @ all"),
    ],
)
def test_email_addresses_are_masked(text: str, masked: str) -> None:
    assert mask_email(text) == masked


def test_api_keys_and_bearer_tokens_are_cut() -> None:
    key = "fk_" + "A1b2-C3d4_" * 4
    assert scrub_text(f"key {key} used") == f"key {REDACTED} used"
    assert scrub_text("Authorization: Bearer abc.def-ghi") == f"Authorization: {REDACTED}"
    assert scrub_text("fk_short stays") == "fk_short stays"


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("password", True),
        ("new_password", True),
        ("csrf_token", True),
        ("session_token", True),
        ("Authorization", True),
        ("cookie", True),
        ("api_key", True),
        ("stripe_secret", True),
        ("total_tokens", False),
        ("tokens", False),
        ("idempotency_key", False),
        ("status", False),
    ],
)
def test_secret_field_names(name: str, secret: bool) -> None:
    assert is_secret_name(name) is secret


def test_json_lines_carry_the_request_and_scrubbed_extras() -> None:
    state: dict[str, object] = {}
    bind_request("req-1", state)
    line = JsonFormatter().format(
        record(
            "user %s logged in",
            "ada@example.com",
            event="login",
            password="hunter2hunter2",
            photo=b"\x89PNG....",
            amount=3,
        )
    )
    state["site"] = FakeSite("coloringbook")  # routing ran later: read when the line is written
    state["principal"] = FakePrincipal(7)
    later = json.loads(JsonFormatter().format(record("after routing")))
    parsed = json.loads(line)
    assert parsed["msg"] == "user a***@example.com logged in"
    assert parsed["level"] == "info" and parsed["logger"] == "forkable.test"
    assert parsed["ts"].endswith("Z")
    assert parsed["request_id"] == "req-1"
    assert "site" not in parsed and "user_id" not in parsed
    assert parsed["event"] == "login" and parsed["amount"] == 3
    assert parsed["password"] == REDACTED
    assert parsed["photo"] == "<8 bytes>"
    assert later["site"] == "coloringbook" and later["user_id"] == 7


def test_exceptions_are_one_json_line_and_scrubbed() -> None:
    try:
        raise ValueError("bad input from eve@example.com")
    except ValueError:
        failed = record("failed")
        failed.exc_info = sys.exc_info()
    line = JsonFormatter().format(failed)
    assert "\n" not in line
    assert "e***@example.com" in json.loads(line)["exc"]
    assert "eve@example.com" not in line


def test_text_lines_are_readable() -> None:
    bind_request("req-2", {"site": FakeSite("petpix")})
    line = TextFormatter().format(record("hello %s", "zoe@example.com", event="greeting"))
    assert "INFO" in line and "forkable.test: hello z***@example.com" in line
    assert "request_id=req-2 site=petpix event=greeting" in line


def test_request_ids_from_callers_are_kept_only_when_sane() -> None:
    request_ids = RequestIds()
    assert request_ids("abc-123_x.y:z") == "abc-123_x.y:z"
    made = [request_ids(bad) for bad in (None, "", "has space", "x" * 129, "semi;colon")]
    assert all(len(new) == 32 and int(new, 16) >= 0 for new in made)
    assert len(set(made)) == len(made)


def test_new_request_ids_differ_between_processes() -> None:
    # Each server process makes its own RequestIds: their ids never collide.
    assert RequestIds()(None) != RequestIds()(None)


def test_configure_logging_installs_one_handler_and_switches_format() -> None:
    root = logging.getLogger()
    before = list(root.handlers)
    try:
        configure_logging("json")
        configure_logging("text")
        ours = [h for h in root.handlers if isinstance(h, StderrHandler)]
        assert len(ours) == 1
        assert isinstance(ours[0].formatter, TextFormatter)
        assert root.level <= logging.INFO
        assert logging.getLogger("httpx").level == logging.WARNING
    finally:
        for handler in root.handlers[:]:
            if handler not in before:
                root.removeHandler(handler)


def test_the_handler_writes_to_the_current_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    handler = StderrHandler()
    handler.setFormatter(JsonFormatter())
    handler.emit(record("to whichever stderr is current"))
    assert "to whichever stderr is current" in capsys.readouterr().err


def test_access_lines_are_structured_and_scrubbed(caplog: pytest.LogCaptureFixture) -> None:
    bind_request("req-3", {"site": FakeSite("petpix"), "principal": FakePrincipal(4)})
    with caplog.at_level(logging.INFO, logger="forkable.access"):
        log_request("GET", "/u/ada@example.com/fk_" + "x" * 40, "unmatched", 404, 1.234)
    (written,) = caplog.records
    line = json.loads(JsonFormatter().format(written))
    assert line["msg"] == "GET /u/a***@example.com/[redacted] 404 1.2 ms"
    assert line["path"] == "/u/a***@example.com/[redacted]"
    assert (line["event"], line["route"], line["status"], line["duration_ms"]) == (
        "request",
        "unmatched",
        404,
        1.23,
    )
    assert (line["request_id"], line["site"], line["user_id"]) == ("req-3", "petpix", 4)
    assert "_fields" not in line
    text = TextFormatter().format(written)
    assert "route=unmatched status=404" in text and "ada@" not in text


def test_timestamps_are_utc_to_the_millisecond() -> None:
    stamp = SecondStamp()
    assert stamp.iso(1_700_000_000.1234) == "2023-11-14T22:13:20.123Z"
    assert stamp.iso(1_700_000_000.1239) == "2023-11-14T22:13:20.123Z"  # the same millisecond
    assert stamp.iso(1_700_000_000.9996) == "2023-11-14T22:13:20.999Z"  # cut, never rounded up
    assert stamp.iso(1_700_000_001.0004) == "2023-11-14T22:13:21.000Z"
    assert stamp.iso(1_600_000_000.05) == "2020-09-13T12:26:40.050Z"  # back in time too
