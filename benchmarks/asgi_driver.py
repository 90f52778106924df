"""Serve N requests to one path of `examples/coloringbook` in-process, without a socket.

Run by bench_instrumentation.py under `valgrind --tool=callgrind`, which counts the
instructions the process executes: a count that, unlike seconds, other jobs on the machine
do not change. The instrumentation mode comes from the environment (as for `forkable serve`),
so the same app is built as in production.

Usage: python benchmarks/asgi_driver.py PATH WARM_UP REQUESTS
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from forkable.app import create_app
from forkable.asgi import open_registry
from forkable.settings import load_settings

ROOT = Path(__file__).resolve().parent.parent
HOST = b"coloringbook.localhost"


async def serve(app: Any, path: str, warm_up: int, requests: int) -> None:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", HOST), (b"user-agent", b"driver"), (b"accept", b"*/*")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    statuses: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    startup: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    replies: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    await startup.put({"type": "lifespan.startup"})
    lifespan = asyncio.create_task(
        app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, startup.get, replies.put)
    )
    if (await replies.get())["type"] != "lifespan.startup.complete":
        raise SystemExit("the app did not start")
    for _ in range(warm_up + requests):
        await app({**scope, "state": {}}, receive, send)
    await startup.put({"type": "lifespan.shutdown"})
    await lifespan
    if set(statuses) != {200}:
        raise SystemExit(f"unexpected statuses: {sorted(set(statuses))}")


def main() -> None:
    path, warm_up, requests = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    with tempfile.TemporaryDirectory() as data_dir:
        os.environ["FORKABLE_DATA_DIR"] = data_dir
        os.environ.setdefault("FORKABLE_LOG_FORMAT", "json")
        app = create_app(open_registry(ROOT / "examples" / "coloringbook"), load_settings())
        asyncio.run(serve(app, path, warm_up, requests))


if __name__ == "__main__":
    main()
