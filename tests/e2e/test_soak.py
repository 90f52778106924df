"""The soak benchmark's one-minute version: visitors buying and making images while the model
fails, a backup is taken and the server is killed; no token made or lost, nothing acknowledged
lost, the ledger verifies and the backup restores."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_a_minute_of_soak(tmp_path: Path) -> None:
    report_file = tmp_path / "soak.json"
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "soak.py"),
            *("--seconds", "60", "--drain", "5", "--json", str(report_file)),
        ],
        cwd=ROOT,
        env=os.environ,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert report_file.exists(), done.stdout + done.stderr
    report = json.loads(report_file.read_text())
    summary = done.stdout

    # The faults happened: the restart, provider failures and timeouts, awkward webhooks.
    assert report["restarted"], summary
    assert report["faults"]["failed"] >= 1 and report["faults"].get("timeout", 0) >= 1, summary
    assert report["counts"].get("duplicate deliveries sent", 0) >= 1, report["counts"]
    assert report["counts"].get("out-of-order pairs sent", 0) >= 1, report["counts"]
    assert report["generations"]["succeeded"] >= 1, summary

    # Exact money: every token accounted for, nothing acknowledged lost, every failure refunded.
    assert report["tokens"]["conserved"], report["tokens"]
    assert sum(report["lost"].values()) == 0, report["lost"]
    assert report["generations"]["failed_not_refunded"] == 0, report["generations"]
    assert report["verify"]["ok"], report["verify"]["output"]
    assert report["backup"]["ok"], report["backup"]

    # Answers: 5xx (and silence outside the SIGKILL window) below 0.1%.
    requests = report["requests"]
    why = {k: requests[k] for k in ("5xx_by_route", "unanswered_outside_by_error", "answered")}
    assert requests["answered_ratio"] >= 0.999, why
    assert not report["memory"]["judged"]  # a minute is too short to judge memory
    assert done.returncode == 0, summary
