"""`GET /metrics` of a process that serves no HTTP otherwise (`forkable worker --metrics-port`).

A small threaded HTTP server in a daemon thread: it answers `/metrics` in the Prometheus text
format, behind the same bearer token as the web's `/metrics` when one is set, and 404 for any
other path. It listens on loopback unless told otherwise.
"""

from __future__ import annotations

import hmac
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST

from forkable.observability.metrics import Metrics

logger = logging.getLogger(__name__)


class MetricsServer:
    """Serves ``metrics`` at ``http://host:port/metrics`` from start() until stop()."""

    def __init__(
        self, metrics: Metrics, *, host: str = "127.0.0.1", port: int, token: str | None = None
    ) -> None:
        self.metrics = metrics
        self.token = token
        self._server = ThreadingHTTPServer((host, port), self._handler())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The port listened on (the one the system chose when asked for port 0)."""
        return int(self._server.server_address[1])

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.split("?", 1)[0] != "/metrics":
                    self._answer(404, b"not found\n", "text/plain; charset=utf-8")
                elif not server.authorised(self.headers.get("Authorization", "")):
                    self._answer(
                        401,
                        b"send the metrics token as Authorization: Bearer <token>\n",
                        "text/plain; charset=utf-8",
                        {"WWW-Authenticate": 'Bearer realm="metrics"'},
                    )
                else:
                    self._answer(200, server.metrics.exposition(), CONTENT_TYPE_LATEST)

            def _answer(
                self,
                status: int,
                body: bytes,
                content_type: str,
                headers: dict[str, str] | None = None,
            ) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass  # scrapes every few seconds would drown the worker's own lines

        return Handler

    def authorised(self, header: str) -> bool:
        if not self.token:
            return True
        scheme, _, value = header.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            value.strip().encode(), self.token.encode()
        )

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="forkable-metrics-server", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(5)
            self._thread = None
        self._server.server_close()
