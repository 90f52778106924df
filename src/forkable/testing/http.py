"""A small threaded HTTP server on loopback that records what it receives."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering (a slow upstream)


Handler = Callable[[RecordedRequest], Reply]


class LoopbackServer:
    """Serves ``handler`` on 127.0.0.1 in a background thread; records every request."""

    def __init__(self, handler: Handler, port: int = 0, *, record: bool = True) -> None:
        # ``record=False``: a long run (a soak) keeps no request bodies, so its memory stays flat.
        self.record = record
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._handler = handler
        outer = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Small JSON answers otherwise wait on Nagle's algorithm: ~40 ms per request.
            disable_nagle_algorithm = True

            def _serve(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                request = RecordedRequest(
                    method=self.command,
                    path=self.path,
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                )
                if outer.record:
                    with outer._lock:
                        outer.requests.append(request)
                reply = outer._handler(request)
                if reply.delay:
                    stop = outer._stopping.wait(reply.delay)
                    if stop:
                        return
                try:
                    self.send_response(reply.status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.send_header("content-length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test); nothing to do

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet: tests read self.requests instead

        self._stopping = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", port), _Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> LoopbackServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def recorded(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self.requests)


class LoopbackService:
    """What every fake service shares: its server's URL, recorded requests and lifecycle.

    Subclasses set ``self.server`` to a LoopbackServer serving their handler.
    """

    server: LoopbackServer

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def requests(self) -> list[RecordedRequest]:
        return self.server.recorded()

    def start(self) -> Self:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()
