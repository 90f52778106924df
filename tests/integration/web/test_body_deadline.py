"""On a real server, over raw sockets: a body that never comes gets 408 and a closed connection."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator

import httpx
import pytest
from tests.conftest import EXAMPLES
from tests.factories import PASSWORD
from tests.serving import Server, serve
from tests.support.mailbox import verify_from_mail

BODY_TIMEOUT = 0.5  # seconds; uploads get four times as long
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("deadline") / "var"
    env = {"FORKABLE_BODY_TIMEOUT_SECONDS": str(BODY_TIMEOUT), "FORKABLE_WORKERS": "1"}
    with serve(EXAMPLES / "coloringbook", data_dir, env=env) as running:
        yield running


def _connect(server: Server) -> socket.socket:
    host, port = server.url.removeprefix("http://").split(":")
    connection = socket.create_connection((host, int(port)), timeout=15)
    return connection


def _head(method: str, path: str, headers: dict[str, str]) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: coloringbook.localhost"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _answer_and_close(connection: socket.socket) -> tuple[int, dict[str, object], float]:
    """The status and JSON body of the one response, and the seconds until the close."""
    started = time.monotonic()
    received = b""
    while chunk := connection.recv(65536):  # b"": the server closed the connection
        received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, json.loads(body), time.monotonic() - started


def test_a_declared_500_mb_body_is_refused_at_once(server: Server) -> None:
    with _connect(server) as connection:
        headers = {"Content-Type": "application/json", "Content-Length": str(500 * 1024 * 1024)}
        connection.sendall(_head("POST", "/api/v1/auth/login", headers))
        status, body, seconds = _answer_and_close(connection)
    assert status == 413 and body["error"]["code"] == "too_large"  # type: ignore[index]
    assert seconds < BODY_TIMEOUT  # not waiting for anything


@pytest.mark.parametrize("sent", [b"", b'{"email": "ada@exam'])
def test_a_body_that_stops_coming_gets_408_and_the_connection_closes(
    server: Server, sent: bytes
) -> None:
    with _connect(server) as connection:
        headers = {"Content-Type": "application/json", "Content-Length": "100"}
        connection.sendall(_head("POST", "/api/v1/auth/login", headers) + sent)
        status, body, seconds = _answer_and_close(connection)
    assert status == 408 and body["error"]["code"] == "request_timeout"  # type: ignore[index]
    assert seconds < BODY_TIMEOUT + 5


def test_an_upload_that_never_comes_gets_408_after_its_longer_deadline(server: Server) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as browser:
        signup = browser.post(
            "/api/v1/auth/signup", json={"email": "slow@example.com", "password": PASSWORD}
        )
        assert signup.status_code == 201, signup.text
        assert server.data_dir is not None
        verify_from_mail(browser, server.data_dir, "slow@example.com")
        created = browser.post(
            "/api/v1/api-keys",
            json={"name": "slow"},
            headers={"x-csrf-token": signup.json()["csrf_token"]},
        )
        key = created.json()["key"]
    with _connect(server) as connection:
        headers = {
            "Authorization": f"Bearer {key}",
            "Content-Type": "multipart/form-data; boundary=xyz",
            "Content-Length": str(5 * 1024 * 1024),
        }
        connection.sendall(_head("POST", "/api/v1/generations", headers) + b"--xyz\r\n")
        status, body, seconds = _answer_and_close(connection)
    assert status == 408 and body["error"]["code"] == "request_timeout"  # type: ignore[index]
    assert 4 * BODY_TIMEOUT - 0.5 < seconds < 4 * BODY_TIMEOUT + 5


def test_the_server_keeps_answering_others_meanwhile(server: Server) -> None:
    with _connect(server) as idle:
        idle.sendall(_head("POST", "/api/v1/auth/login", {"Content-Length": "100"}))
        assert httpx.get(f"{server.url}/healthz", timeout=5).status_code == 200
