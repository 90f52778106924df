"""Make one coloring book through the API in a fresh process and report its peak memory.

Usage: book_memory.py SITES_DIR DATA_DIR DATABASE_URL HOST EMAIL PASSWORD IDS_FILE OUT_PDF

Prints one JSON line: the process's peak resident set size before the book (the app started,
signed in, one result.pdf made so every module is loaded) and after it, in MiB, and the book's
size. The PDF is streamed to OUT_PDF, as a browser saving the download would.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from fastapi.testclient import TestClient

from forkable.accounts.passwords import fast_passwords
from forkable.app import build_services, create_app
from forkable.asgi import open_registry
from forkable.generations.runner import RunnerConfig
from forkable.settings import Settings


def peak_mib() -> float:
    """The peak resident set size of this program, in MiB.

    VmHWM, not getrusage's ru_maxrss: Linux carries ru_maxrss over an exec, so a child of a
    large test process would start out with its parent's size.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024  # kB
    raise RuntimeError("no VmHWM in /proc/self/status")


def main() -> None:
    sites_dir, data_dir, database_url, host, email, password, ids_file, out = sys.argv[1:]
    ids = json.loads(Path(ids_file).read_text())
    registry = open_registry(Path(sites_dir))
    settings = Settings.model_validate({"data_dir": data_dir, "database_url": database_url})
    services = build_services(
        registry, settings, passwords=fast_passwords(), runner_config=RunnerConfig(workers=1)
    )
    app = create_app(registry, settings, services=services, migrate=False)
    with TestClient(app, base_url=f"http://{host}") as client:
        login = client.post("/api/v1/auth/login", json={"email": email, "password": password})
        assert login.status_code == 200, login.text
        csrf = login.json()["csrf_token"]
        warm = client.get(f"/api/v1/generations/{ids[0]}/result.pdf")
        assert warm.status_code == 200, warm.text
        before = peak_mib()
        body = {"title": "Fifty pages", "paper": "a4", "generation_ids": ids}
        size = 0
        with (
            client.stream("POST", "/api/v1/books", json=body, headers={"x-csrf-token": csrf}) as r,
            Path(out).open("wb") as file,
        ):
            assert r.status_code == 200, r.read()
            for chunk in r.iter_bytes():
                size += file.write(chunk)
        after = peak_mib()
    services.runner.stop()
    services.database.dispose()
    print(json.dumps({"before_mib": before, "peak_mib": after, "bytes": size}))  # noqa: T201


if __name__ == "__main__":
    main()
