"""Hostile paths on a real server: a long URL stalls nobody, a `%0a` forges no log line."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from tests.conftest import EXAMPLES
from tests.serving import serve

# One GET of this kept /healthz waiting for seconds while the access log scrubbed it.
LONG_PATH = "/" + "a" * 60_000 + "@"
FORGED = "12:00:00 INFO    forkable.access: GET /admin/users 200 1.0 ms"


def _healthz_seconds(client: httpx.Client) -> float:
    started = time.perf_counter()
    assert client.get("/healthz").status_code == 200
    return time.perf_counter() - started


@pytest.mark.slow
@pytest.mark.parametrize("log_format", ["text", "json"])
def test_a_long_url_does_not_stall_other_requests(tmp_path: Path, log_format: str) -> None:
    env = {"FORKABLE_LOG_FORMAT": log_format, "FORKABLE_WORKERS": "1"}
    with (
        serve(EXAMPLES / "coloringbook", tmp_path / "var", env=env) as server,
        httpx.Client(base_url=server.url, timeout=30) as client,
    ):
        assert _healthz_seconds(client) < 5  # warm: the first request builds what it needs
        waits = []
        for _ in range(3):
            assert client.get(LONG_PATH).status_code == 404
            # The access line for that request is made now; the loop must stay free.
            waits.append(_healthz_seconds(client))
        assert max(waits) < 0.2, waits
    log = server.log.read_text()
    assert "a" * 100 not in log
    # Cut to its limit, and back to before the address-like run the limit fell into.
    assert log.count("/...[60001 more characters]") >= 3


@pytest.mark.slow
def test_control_characters_in_a_path_forge_no_text_log_line(tmp_path: Path) -> None:
    env = {"FORKABLE_LOG_FORMAT": "text", "FORKABLE_WORKERS": "1"}
    encoded = "/x%0a" + FORGED.replace(" ", "%20") + "%0d%1b[2J"
    with (
        serve(EXAMPLES / "coloringbook", tmp_path / "var", env=env) as server,
        httpx.Client(base_url=server.url, timeout=30) as client,
    ):
        assert client.get(encoded).status_code == 404
    log = server.log.read_text()
    assert not any(line.startswith(FORGED) for line in log.splitlines())
    assert "\x1b" not in log and "\r" not in log
    (line,) = [line for line in log.splitlines() if "forkable.access" in line and "/x" in line]
    assert f"GET /x\\n{FORGED}\\r\\x1b[2J 404" in line
    assert "route=unmatched" in line
