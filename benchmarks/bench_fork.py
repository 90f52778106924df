"""How long a fork takes to go live: on a running multi-site server, standalone, and deployed.

Usage: .venv/bin/python benchmarks/bench_fork.py [--runs 5]
Writes its section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from common import ROOT, machine, run_process, today, write_section
from tests.serving import host_proxy, serve
from tests.support.remote_deploy import environ

from forkable.testing.fake_github import FakeGitHub
from forkable.testing.fake_vercel import FakeVercel

PYTHON = sys.executable
SOURCE = ROOT / "examples" / "coloringbook"


def fork(
    dest: Path, *extra: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PYTHON, "-m", "forkable", "fork", str(SOURCE), str(dest), "--name", "Pet Pix", *extra],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **(env or {})},
    )


def wait_for(url: str, host: str, text: str, started: float, timeout: float = 30) -> float:
    while time.monotonic() - started < timeout:
        try:
            response = httpx.get(url, headers={"host": host}, timeout=2)
            if response.status_code == 200 and text in response.text:
                return time.monotonic() - started
        except httpx.TransportError:
            pass
        time.sleep(0.02)
    raise TimeoutError(url)


def to_running_server(runs: int) -> list[float]:
    """`forkable fork` into the folder of a running server, until the new host answers."""
    seconds: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        sites = Path(tmp) / "sites"
        sites.mkdir()
        shutil.copytree(ROOT / "examples" / "pencilsketch", sites / "pencilsketch")
        with serve(sites, Path(tmp) / "var") as server:
            for run in range(runs):
                site_id = f"petpix{run}"
                started = time.monotonic()
                fork(sites / site_id, "--no-git")
                seconds.append(
                    wait_for(server.url + "/", f"{site_id}.localhost", "Pet Pix", started)
                )
    return seconds


def to_standalone_server(runs: int) -> list[float]:
    """`forkable fork`, then `forkable serve DEST` (new database), until / answers."""
    seconds: list[float] = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            dest = Path(tmp) / "petpix"
            started = time.monotonic()
            fork(dest)
            command = [PYTHON, "-m", "forkable", "serve", str(dest), "--port", "{port}"]
            with run_process(command, {"FORKABLE_DATA_DIR": str(Path(tmp) / "var")}) as server:
                seconds.append(wait_for(server.url + "/", "petpix.example.com", "Pet Pix", started))
    return seconds


def fork_and_deploy(runs: int) -> list[float]:
    """`forkable fork --deploy vercel` against the fake GitHub and Vercel, smoke test included."""
    seconds: list[float] = []
    for run in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            sites = Path(tmp) / "sites"
            sites.mkdir()
            shutil.copytree(ROOT / "examples" / "pencilsketch", sites / "pencilsketch")
            site_id = f"petpix{run}"
            with (
                serve(
                    sites, Path(tmp) / "var", env={"FORKABLE_SITES_POLL_SECONDS": "0.2"}
                ) as server,
                host_proxy(server.url, f"{site_id}.localhost") as live,
                FakeGitHub() as github,
                FakeVercel(live_url=live) as vercel,
            ):
                started = time.monotonic()
                fork(sites / site_id, "--deploy", "vercel", env=environ(github, vercel))
                seconds.append(time.monotonic() - started)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    live = to_running_server(args.runs)
    standalone = to_standalone_server(args.runs)
    deployed = fork_and_deploy(max(1, args.runs // 2))

    def row(label: str, values: list[float], target: float) -> str:
        median = statistics.median(values)
        verdict = "met" if median < target else "not met"
        return f"| {label} | {median:.2f} | {min(values):.2f}-{max(values):.2f} | {len(values)} | < {target:g} s: {verdict} |"

    body = f"""## Fork to live (issue 6)

Run on {today()}: {machine()}.
Command: `.venv/bin/python benchmarks/bench_fork.py --runs {args.runs}`.

| from `forkable fork` (a subprocess, vendored wheel included) to ... | median s | range s | runs | target |
| --- | --- | --- | --- | --- |
{row("the new site answering on a running multi-site server (default 1 s folder polling)", live, 2)}
{row("a standalone `forkable serve DEST` answering (fresh database)", standalone, 10)}
{row("`fork --deploy vercel` done against the fake GitHub and Vercel (push, secrets, project, env, deployment, domain, smoke test)", deployed, 30)}

The fakes answer on loopback and the fake deployment is ready after two polls 50 ms apart, so
the last row is our own time: what forkable spends, not what Vercel's build takes.
"""
    write_section("fork", body)
    print(body)


if __name__ == "__main__":
    main()
