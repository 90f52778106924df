"""Sentry receives the error with release, environment and site, and nothing personal."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tests.conftest import EXAMPLES, ROOT

from forkable import __version__
from forkable.testing.http import LoopbackServer, RecordedRequest, Reply

SCRIPT = ROOT / "tests" / "support" / "sentry_boom.py"


def envelope_items(request: RecordedRequest) -> list[dict[str, object]]:
    """The JSON lines of a Sentry envelope (header, item headers, payloads)."""
    body = request.body
    if request.headers.get("content-encoding") == "gzip":
        body = gzip.decompress(body)
    assert request.headers.get("content-encoding") in (None, "gzip")
    items: list[dict[str, object]] = []
    for line in body.splitlines():
        if line.strip():
            parsed = json.loads(line)
            if isinstance(parsed, dict):
                items.append(parsed)
    return items


@pytest.mark.slow
def test_an_unhandled_error_reaches_sentry_scrubbed(tmp_path: Path) -> None:
    with LoopbackServer(lambda _request: Reply(200, b'{"id": "x"}')) as sentry:
        port = sentry.url.rsplit(":", 1)[1]
        env = {
            **os.environ,
            "SENTRY_DSN": f"http://public@127.0.0.1:{port}/1",
            "FORKABLE_DATA_DIR": str(tmp_path / "var"),
        }
        run = subprocess.run(
            [sys.executable, str(SCRIPT), str(EXAMPLES / "coloringbook")],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert run.returncode == 0, run.stderr[-3000:]
        status_line, cookie_line, csrf_line = run.stdout.splitlines()[-3:]
        assert status_line == "500 boom-1"  # the 500 page echoes the request id too
        envelopes = [r for r in sentry.recorded() if r.path.startswith("/api/1/envelope")]
    assert envelopes, [r.path for r in sentry.recorded()]
    events = [
        item for request in envelopes for item in envelope_items(request) if "exception" in item
    ]
    assert len(events) == 1
    event = events[0]
    assert event["release"] == __version__
    assert event["environment"] == "development"
    tags = event["tags"]
    assert isinstance(tags, dict)
    assert tags["site"] == "coloringbook"
    assert tags["request_id"] == "boom-1"
    raw = json.dumps(event)
    assert "RuntimeError" in raw and "boom while serving a***@example.com" in raw
    secrets = {
        "e-mail": "ada.lovelace@example.com",
        "password": "correct horse battery staple",
        "api key": "fk_" + "s" * 43,
        "session cookie": cookie_line.split(" ", 1)[1],
        "csrf token": csrf_line.split(" ", 1)[1],
    }
    for name, secret in secrets.items():
        assert secret not in raw, name
    request = event["request"]
    assert isinstance(request, dict)
    headers = {name.lower() for name in request.get("headers", {})}
    assert not headers & {"cookie", "authorization", "x-csrf-token"}
    assert "cookies" not in request and "data" not in request
    assert "user" not in event
