"""Running a real `forkable serve` in a subprocess for end-to-end tests and benchmarks."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Coroutine, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    url: str
    log: Path
    data_dir: Path | None = None  # its FORKABLE_DATA_DIR (development mail lands in mail/)


def wait_until_healthy(url: str, process: subprocess.Popen[bytes], timeout: float) -> float:
    """Seconds until /healthz answered 200; raise if the process died or time ran out."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            if httpx.get(f"{url}/healthz", timeout=0.5).status_code == 200:
                return time.monotonic() - started
        except httpx.TransportError:
            pass
        time.sleep(0.02)
    raise TimeoutError(f"{url} did not become healthy in {timeout} s")


@contextmanager
def serve(
    sites: Path,
    data_dir: Path,
    *,
    env: Mapping[str, str] | None = None,
    args: tuple[str, ...] = (),
    timeout: float = 30,
) -> Iterator[Server]:
    """Start `forkable serve SITES` on a free port; stop it (SIGTERM, then SIGKILL) on exit."""
    port = free_port()
    log = data_dir.parent / f"server-{port}.log"
    data_dir.mkdir(parents=True, exist_ok=True)
    environ = {**os.environ, "FORKABLE_DATA_DIR": str(data_dir), **(env or {})}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "forkable", "serve", str(sites), "--port", str(port), *args],
            env=environ,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(url, process, timeout)
        yield Server(process=process, url=url, log=log, data_dir=data_dir)
    except Exception:
        sys.stderr.write(log.read_text(errors="replace"))
        raise
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def serve_app_in_thread(app: object, *, timeout: float = 15) -> Iterator[str]:
    """Serve an ASGI app with uvicorn on a free port in a thread; yield its base URL."""
    import threading

    import uvicorn

    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")  # type: ignore[arg-type]
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    started = time.monotonic()
    while not server.started:
        if time.monotonic() - started > timeout or not thread.is_alive():
            raise RuntimeError("in-thread server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout)


def run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion in a fresh thread with its own event loop.

    Playwright's sync API leaves an event loop running in the main thread, where
    `asyncio.run` refuses to start; a worker thread has none.
    """
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


@contextmanager
def host_proxy(upstream: str, host: str) -> Iterator[str]:
    """A loopback URL that forwards every request to ``upstream`` with ``Host: host``.

    Stands in for a deployment's public URL: the fake Vercel hands it out, and requests reach
    a multi-site server as if addressed to the site's own domain.
    """
    from forkable.testing.http import LoopbackServer, RecordedRequest, Reply

    def forward(request: RecordedRequest) -> Reply:
        headers = {k: v for k, v in request.headers.items() if k not in ("host", "content-length")}
        answer = httpx.request(
            request.method,
            upstream + request.path,
            headers={**headers, "host": host},
            content=request.body,
            timeout=30,
        )
        kept = {
            k: v
            for k, v in answer.headers.items()
            if k.lower() in ("content-type", "location", "cache-control")
        }
        return Reply(status=answer.status_code, body=answer.content, headers=kept)

    with LoopbackServer(forward) as proxy:
        yield proxy.url
