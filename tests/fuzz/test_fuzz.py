"""Fuzzing in the suite: every seed replays cleanly, then a short seeded atheris run per target."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tests.conftest import ROOT, missing_service
from tests.fuzz.targets import TARGETS

CORPUS = Path(__file__).resolve().parent / "corpus"
SEEDS = [
    pytest.param(target, path, id=f"{target}/{path.name}")
    for target in sorted(TARGETS)
    for path in sorted((CORPUS / target).iterdir())
]

# Inputs per target, including the seeds themselves: a few seconds each on one core.
RUNS = {"multipart": 4000, "upload": 1500, "manifest": 1500}
# Bounds for a loaded machine: libFuzzer stops early (and passes) at the total, and reports
# any single input that takes longer than the per-input limit as a failure.
MAX_TOTAL_SECONDS = 25
MAX_SECONDS_PER_INPUT = 10
MAX_RSS_MB = 1024


def test_corpus_is_small() -> None:
    sizes = [path.stat().st_size for target in TARGETS for path in (CORPUS / target).iterdir()]
    assert sum(sizes) < 400_000
    assert max(sizes) < 20_000


@pytest.mark.parametrize(("target", "seed"), SEEDS)
def test_seed_has_a_documented_outcome(target: str, seed: Path) -> None:
    TARGETS[target](seed.read_bytes())


@pytest.mark.slow
@pytest.mark.parametrize("target", sorted(RUNS))
def test_bounded_fuzz_run_finds_nothing(target: str, tmp_path: Path) -> None:
    if importlib.util.find_spec("atheris") is None:
        missing_service("atheris is not installed (it ships wheels for Linux x86_64 only)")
    command = [
        sys.executable,
        "-m",
        "tests.fuzz.run",
        target,
        f"--work={tmp_path / 'corpus'}",
        f"-artifact_prefix={tmp_path}/",
        f"-runs={RUNS[target]}",
        "-seed=1",
        # The default "entropic" schedule weighs inputs by how long they took, which makes
        # two runs with one seed differ; without it a run is the same every time.
        "-entropic=0",
        f"-max_total_time={MAX_TOTAL_SECONDS}",
        f"-timeout={MAX_SECONDS_PER_INPUT}",
        f"-rss_limit_mb={MAX_RSS_MB}",
    ]
    # A fixed hash seed keeps set and dict order, and so the whole run, reproducible.
    environment = {**os.environ, "PYTHONHASHSEED": "0"}
    finished = subprocess.run(
        command,
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=MAX_TOTAL_SECONDS * 4,
        check=False,
    )
    findings = sorted(
        path for path in tmp_path.iterdir() if path.name.startswith(("crash-", "timeout-", "oom-"))
    )
    assert finished.returncode == 0 and not findings, failure_report(target, finished, findings)
    assert "Done " in finished.stderr, finished.stderr[-2000:]


def failure_report(
    target: str, finished: subprocess.CompletedProcess[str], findings: list[Path]
) -> str:
    """What the fuzzer found, and how to replay it, for the assertion message."""
    lines = [f"the {target} fuzz target failed (exit {finished.returncode})"]
    for path in findings:
        data = path.read_bytes()
        lines += [
            f"input {path.name} ({len(data)} bytes): {data[:400]!r}",
            f"replay: python -m tests.fuzz.run {target} {path}",
            f"keep it: copy it to tests/fuzz/corpus/{target}/regression-<what>",
        ]
    # atheris prints the Python traceback to stdout, libFuzzer its summary to stderr.
    lines += [finished.stdout[-4000:], finished.stderr[-3000:]]
    return "\n".join(lines)
