"""Structured logs: one JSON object per line in production, readable lines in development.

Every line logged while a request is served carries its request id, site and user, from a
context variable that `InstrumentationMiddleware` sets (the site and user are read from the
request's state when the line is written, so they appear once routing and authentication have
run). Nothing secret reaches a line: e-mail addresses are masked (`a***@example.com`), fields
with secret-looking names are replaced, and API keys and bearer tokens in text are cut.
Scrubbing takes time linear in the text (visitors choose it), paths are cut to
`MAX_LOGGED_PATH` characters, and text lines escape control characters, so a path with `%0a`
in it cannot write a line of its own.

`configure_logging` is called by `forkable serve` and `create_app`, never at import; calling it
again only swaps the format.
"""

from __future__ import annotations

import functools
import itertools
import json
import logging
import re
import secrets
import sys
import time
from contextvars import ContextVar
from datetime import datetime
from typing import Any, TextIO

REDACTED = "[redacted]"
# Every pattern below runs on text a visitor chose (paths, headers, exception messages), so
# each runs in time linear in the text: no quantified part can be retried from every start.
#
# A run of local-part characters as addresses are written in practice ("/" and "=" left out
# so a path or a query, `/u/ada@...`, `email=ada@...`, keeps its text before the address),
# and the domain after it when an "@" follows, as a lookahead. The run is possessive and the
# lookahead optional, so the search takes each run once whatever follows it. The former
# `x[...]*@domain` was retried from every character of a run without a domain after it:
# quadratic, seconds for one 60,000-character path.
_ADDRESS_RUN = re.compile(r"[A-Za-z0-9._%+-]++(?:(?=@([A-Za-z0-9-]++(?:\.[A-Za-z0-9-]++)+)))?")
# Our API keys (fk_ + 43 URL-safe characters) and whatever follows "Bearer". Each alternative
# is tried only where its literal stands at a word boundary, and nothing after it backtracks.
_SECRET_TEXT = re.compile(r"\bfk_[A-Za-z0-9_-]{16,}|(?i:\bbearer\s++)[A-Za-z0-9._~+/=-]+")
# A path longer than this is cut in the log (the line says how much was cut).
MAX_LOGGED_PATH = 2048
_ADDRESS_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._%+-@"
# Control characters (C0, DEL, C1) and the Unicode line and paragraph separators: in a text
# line they would start a forged line, move the cursor or recolour a terminal.
_CONTROLS = {
    **{code: f"\\x{code:02x}" for code in (*range(0x20), *range(0x7F, 0xA0))},
    ord("\n"): "\\n",
    ord("\r"): "\\r",
    ord("\t"): "\\t",
    0x2028: "\\u2028",
    0x2029: "\\u2029",
}
_CONTROLS_BUT_NEWLINE = {code: text for code, text in _CONTROLS.items() if code != ord("\n")}
# Before every line of a traceback in text logs: records start with a time, tracebacks never.
_TRACE_INDENT = "    "
_SECRET_NAMES = frozenset(
    {"password", "passwd", "secret", "token", "authorization", "cookie", "cookies", "csrf", "dsn"}
)
_SECRET_SUFFIXES = ("password", "secret", "_token", "api_key", "apikey", "cookie", "_dsn")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# Attributes every LogRecord has; anything else was passed as `extra` and becomes a field
# (but uvicorn's `color_message`, the message again with terminal colour codes).
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
    "color_message",
}


class RequestContext:
    """The request a log line belongs to; site and user are looked up when a line is written."""

    __slots__ = ("request_id", "state")

    def __init__(self, request_id: str, state: dict[str, Any]) -> None:
        self.request_id = request_id
        self.state = state  # the ASGI scope's "state": routing puts the site, auth the principal

    @property
    def site_id(self) -> str | None:
        site_id = getattr(self.state.get("site"), "id", None)
        return site_id if isinstance(site_id, str) else None

    @property
    def user_id(self) -> int | None:
        user_id = getattr(self.state.get("principal"), "user_id", None)
        return user_id if isinstance(user_id, int) else None


_CURRENT: ContextVar[RequestContext | None] = ContextVar("forkable_request", default=None)
ACCESS_LOGGER = logging.getLogger("forkable.access")


def bind_request(request_id: str, state: dict[str, Any]) -> RequestContext:
    """Make ``request_id`` the current request's (for this task and what it starts)."""
    context = RequestContext(request_id, state)
    _CURRENT.set(context)
    return context


def current_request() -> RequestContext | None:
    return _CURRENT.get()


def request_id_header() -> dict[str, str]:
    """`{"x-request-id": ...}` for a response made outside the middleware (a 500), else {}."""
    context = _CURRENT.get()
    return {"x-request-id": context.request_id} if context is not None else {}


class RequestIds:
    """Request ids: the caller's X-Request-ID when it is a sane token, else 32 new hex digits.

    New ids are unique, not secret: a random 80-bit prefix drawn when this object is made
    (once per server process), then a 48-bit counter. Cheaper than drawing 128 random bits
    for every request.
    """

    def __init__(self) -> None:
        self._prefix = f"{secrets.randbits(80):020x}"
        self._counter = itertools.count(1)

    def __call__(self, header: str | None) -> str:
        if header and _REQUEST_ID.match(header):
            return header
        return f"{self._prefix}{next(self._counter):012x}"


def log_request(
    method: str,
    path: str,
    route: str,
    status: int,
    millis: float,
    *,
    context: RequestContext | None = None,
    created: float | None = None,
) -> None:
    """One access-log line for an answered request, through `logging`.

    ``context`` is the request's when the line is written after the request (by the access
    log's writer thread), ``created`` the time it was answered; both default to now's.
    """
    if not ACCESS_LOGGER.isEnabledFor(logging.INFO):
        return
    path = scrub_text(bounded(path))
    # Built directly: logger.info would walk the stack for a caller that is always the same.
    record = logging.LogRecord(
        ACCESS_LOGGER.name,
        logging.INFO,
        __file__,
        0,
        f"{method} {path} {status} {millis:.1f} ms",
        (),
        None,
    )
    if created is not None:
        record.created = created
        record.msecs = (created - int(created)) * 1000
    fields = {
        "event": "request",
        "method": method,  # an HTTP token: no '@', no spaces
        "path": path,
        "route": route,  # a route template
        "status": status,
        "duration_ms": round(millis, 2),
    }
    record.__dict__.update(fields)
    # Already safe: the formatters take these as they are instead of scanning the record.
    record.__dict__["_fields"] = fields
    if context is not None:
        record.__dict__["_context"] = context
    ACCESS_LOGGER.handle(record)


def mask_email(text: str) -> str:
    """`ada@example.com` -> `a***@example.com`, wherever addresses appear in ``text``."""
    # An address's domain is part of the next run the search finds; it is never a local part
    # itself (`a@b.com@c.org` masks `a` only), so the domain's end is kept between matches.
    domain_end = 0

    def mask(match: re.Match[str]) -> str:
        nonlocal domain_end
        run, start = match[0], match.start()
        kept = ""
        if start < domain_end:
            kept, run = run[: domain_end - start], run[domain_end - start :]
        domain = match[1]
        local = run.lstrip(".")  # the first character of an address is not a dot
        if domain is None or not local:
            return kept + run
        domain_end = match.end() + 1 + len(domain)
        return f"{kept}{run[: len(run) - len(local)]}{local[0]}***"

    return _ADDRESS_RUN.sub(mask, text)


def bounded(text: str, limit: int = MAX_LOGGED_PATH) -> str:
    """``text`` cut to about ``limit`` characters, saying how many were cut."""
    if len(text) <= limit:
        return text
    # Cut before any address the limit would split: half an address would escape masking.
    head = text[:limit].rstrip(_ADDRESS_CHARS)
    return f"{head}...[{len(text) - len(head)} more characters]"


def escape_controls(text: str) -> str:
    """Control characters written as escapes (`\\n`, `\\x1b`): one log line stays one line."""
    return text.translate(_CONTROLS)


def scrub_text(text: str) -> str:
    """Mask e-mail addresses and cut API keys and bearer tokens out of ``text``."""
    if "@" in text:
        text = mask_email(text)
    lowered = text.lower()
    # The substring tests are far cheaper than the regex, which most lines never need.
    if "fk_" in lowered or "bearer" in lowered:
        text = _SECRET_TEXT.sub(REDACTED, text)
    return text


@functools.lru_cache(maxsize=1024)
def is_secret_name(name: str) -> bool:
    """Field names whose values are never written (`password`, `csrf_token`, `cookie` ...)."""
    lowered = name.lower().replace("-", "_")
    return lowered in _SECRET_NAMES or lowered.endswith(_SECRET_SUFFIXES)


def scrub_value(name: str, value: object) -> object:
    """A field's value as it may be logged."""
    if is_secret_name(name):
        return REDACTED
    kind = type(value)
    if kind is int or kind is float or kind is bool or value is None:
        return value
    if kind is str:
        return scrub_text(value)  # type: ignore[arg-type]
    if isinstance(value, bytes | bytearray | memoryview):
        return f"<{len(value)} bytes>"  # image data and bodies never go to a log
    return scrub_text(str(value))


def _add_fields(fields: dict[str, object], record: logging.LogRecord) -> dict[str, object]:
    """The request's fields, then the record's extras (scrubbed), added to ``fields``."""
    attributes = record.__dict__
    context = attributes.get("_context") or _CURRENT.get()
    if context is not None:
        fields["request_id"] = context.request_id
        if (site_id := context.site_id) is not None:
            fields["site"] = site_id
        if (user_id := context.user_id) is not None:
            fields["user_id"] = user_id
    ready = attributes.get("_fields")
    if ready is not None:
        fields.update(ready)
        return fields
    for key, value in attributes.items():
        if key not in _STANDARD and key not in fields and key[:1] != "_":
            fields[key] = scrub_value(key, value)
    return fields


class SecondStamp:
    """UTC ISO-8601 timestamps to the millisecond, the date formatted once a second."""

    def __init__(self) -> None:
        self._second = -1
        self._second_text = ""
        self._last = (-1, "")  # one tuple, so that threads never see half of an update

    def iso(self, created: float | None = None) -> str:
        millis = int((time.time() if created is None else created) * 1000)
        last = self._last
        if millis == last[0]:
            return last[1]  # busy servers write several lines a millisecond
        second, fraction = divmod(millis, 1000)
        if second != self._second:
            self._second_text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = second
        text = f"{self._second_text}.{fraction:03d}Z"
        self._last = (millis, text)
        return text


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, request fields, extras, exc."""

    def __init__(self) -> None:
        super().__init__()
        # json.dumps with options builds a new encoder per call; this runs once per line.
        self._encode = json.JSONEncoder(default=str, ensure_ascii=False).encode
        self._stamp = SecondStamp().iso

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, object] = {
            "ts": self._stamp(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": scrub_text(record.getMessage()),
        }
        _add_fields(payload, record)
        if record.exc_info:
            payload["exc"] = scrub_text(self.formatException(record.exc_info))
        return self._encode(payload)


class TextFormatter(logging.Formatter):
    """`12:00:01 INFO forkable.x: message  request_id=... site=... key=value`.

    One record is one line: control characters in the message and fields are escaped, and a
    traceback's lines are indented, so no text a visitor sends (`%0a` in a path, terminal
    escapes) can make a line that looks like another record.
    """

    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created).strftime("%H:%M:%S")  # noqa: DTZ006 - local time reads best on a terminal
        line = f"{stamp} {record.levelname:<7} {record.name}: {scrub_text(record.getMessage())}"
        fields = _add_fields({}, record)
        if fields:
            line += "  " + " ".join(f"{key}={value}" for key, value in fields.items())
        line = escape_controls(line)
        if record.exc_info:
            trace = scrub_text(self.formatException(record.exc_info))
            line += (
                "\n"
                + _TRACE_INDENT
                + trace.translate(_CONTROLS_BUT_NEWLINE).replace("\n", "\n" + _TRACE_INDENT)
            )
        return line


class StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever `sys.stderr` is when a line is written (test runners swap it)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        pass  # always the current sys.stderr


def configure_logging(log_format: str) -> None:
    """Route every logger through one handler in ``log_format`` (json or text), at INFO."""
    root = logging.getLogger()
    handler = next((h for h in root.handlers if isinstance(h, StderrHandler)), None)
    if handler is None:
        handler = StderrHandler()
        root.addHandler(handler)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    if root.level == logging.NOTSET or root.level > logging.INFO:
        root.setLevel(logging.INFO)
    # HTTP clients log every call at INFO (Stripe, Gemini): too noisy to keep by default.
    for name in ("httpx", "httpcore", "httpx2"):
        noisy = logging.getLogger(name)
        if noisy.level == logging.NOTSET:
            noisy.setLevel(logging.WARNING)
