"""`scripts/audit_dependencies.py`: findings fail, an audit that could not be made never passes
silently, and only AUDIT_ALLOW_UNREACHABLE lets it through (saying so)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from scripts.audit_dependencies import Audit, read_report, verdict

from forkable.testing.http import LoopbackServer, RecordedRequest, Reply

SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "audit_dependencies.py"
VULNERABLE = "jinja2"  # installed here; the fake OSV says it has a known vulnerability
ADVISORY = {
    "id": "PYSEC-2099-1",
    "aliases": ["CVE-2099-0001"],
    "summary": "a test advisory",
    "affected": [
        {
            "package": {"name": VULNERABLE, "ecosystem": "PyPI"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "99.0"}]}],
        }
    ],
}


def osv_answer(request: RecordedRequest) -> Reply:
    """OSV's `POST /v1/query`: one advisory for VULNERABLE, none for anything else."""
    query = request.json()
    found = query["package"]["name"] == VULNERABLE
    body = json.dumps({"vulns": [ADVISORY]} if found else {}).encode()
    return Reply(200, body, {"content-type": "application/json"})


@pytest.fixture
def osv() -> Iterator[LoopbackServer]:
    with LoopbackServer(osv_answer) as server:
        yield server


def audit(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--timeout", "5", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )


def test_a_known_vulnerability_fails_even_when_unreachable_is_allowed(
    osv: LoopbackServer,
) -> None:
    for extra in ((), ("--allow-unreachable",)):
        result = audit("--osv-url", f"{osv.url}/v1/query", *extra)
        assert result.returncode == 1, result.stdout + result.stderr
        assert "pip-audit: 1 known vulnerabilities:" in result.stderr
        (finding,) = [line for line in result.stderr.splitlines() if "PYSEC" in line]
        assert finding.strip().startswith(f"{VULNERABLE} ")
        assert finding.endswith(": PYSEC-2099-1, CVE-2099-0001 (fixed in: 99.0)")
    assert len(osv.recorded()) > 10  # every installed package was looked up


def test_a_clean_environment_passes(tmp_path: Path) -> None:
    with LoopbackServer(lambda _r: Reply(200, b"{}", {"content-type": "application/json"})) as s:
        result = audit("--osv-url", f"{s.url}/v1/query")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("pip-audit: ") and "no known vulnerabilities" in result.stdout


@pytest.fixture(params=["connection refused", "HTTP 503"])
def unreachable_osv(request: pytest.FixtureRequest) -> Iterator[str]:
    """The URL of an OSV API that cannot answer: nothing listening, or a failing server."""
    server = LoopbackServer(lambda _r: Reply(503, b"down"))
    with server:
        url = f"{server.url}/v1/query"
        if request.param == "HTTP 503":
            yield url
            return
    yield url  # stopped: nothing listens on its port now


def test_an_unreachable_service_is_not_a_pass(unreachable_osv: str) -> None:
    strict = audit("--osv-url", unreachable_osv)
    assert strict.returncode == 2, strict.stdout + strict.stderr
    assert "pip-audit: NOT AUDITED: vulnerability service unreachable: " in strict.stderr
    assert "AUDIT_ALLOW_UNREACHABLE=1" in strict.stderr
    allowed = audit("--osv-url", unreachable_osv, "--allow-unreachable")
    assert allowed.returncode == 0, allowed.stderr
    (line,) = allowed.stdout.splitlines()
    assert line.startswith("pip-audit: NOT AUDITED, allowed by AUDIT_ALLOW_UNREACHABLE: ")


def test_packages_the_service_could_not_look_up_are_not_a_pass() -> None:
    # pip-audit's PyPI service here: every release "not found", and pip-audit exits 0 saying
    # "No known vulnerabilities found".
    report = {
        "dependencies": [
            {"name": "jinja2", "version": "3.1.6", "skip_reason": "Dependency not found on PyPI"},
            {"name": "idna", "version": "3.10", "vulns": []},
        ]
    }
    audited = read_report(json.dumps(report), "No known vulnerabilities found", 0)
    assert audited.not_audited == ["jinja2 3.1.6: Dependency not found on PyPI"]
    status, lines = verdict(audited, allow_unreachable=False)
    assert status == 2
    assert lines[0] == (
        "pip-audit: NOT AUDITED: 1 of 2 packages could not be audited "
        "(first: jinja2 3.1.6: Dependency not found on PyPI)"
    )
    assert verdict(audited, allow_unreachable=True)[0] == 0


def test_pip_audit_crashing_for_another_reason_is_reported_as_such() -> None:
    status, lines = verdict(
        read_report("", "Traceback...\nValueError: bad thing", 1), allow_unreachable=False
    )
    assert status == 2
    assert lines[0] == "pip-audit: NOT AUDITED: pip-audit failed: ValueError: bad thing"
    assert verdict(Audit(packages=3), allow_unreachable=False) == (
        0,
        ["pip-audit: 3 packages, no known vulnerabilities"],
    )
