"""A real S3-compatible server on loopback (moto's), and a fresh bucket for each test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
from moto.server import ThreadedMotoServer

from forkable.storage.s3 import s3_client

# moto accepts any keys; these only have to be present so botocore signs its requests.
FAKE_KEYS = {"AWS_ACCESS_KEY_ID": "forkable-test", "AWS_SECRET_ACCESS_KEY": "forkable-test"}


@dataclass(frozen=True)
class S3Server:
    endpoint: str

    def environ(self) -> dict[str, str]:
        """The AWS variables a site would set to reach this server."""
        return {**FAKE_KEYS, "AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL_S3": self.endpoint}


@dataclass(frozen=True)
class S3Bucket:
    server: S3Server
    name: str

    def environ(self) -> dict[str, str]:
        return self.server.environ()


@contextmanager
def s3_server() -> Iterator[S3Server]:
    """moto's S3 on a free loopback port; afterwards the port is closed, refusing connections."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield S3Server(endpoint=f"http://{host}:{port}")
    finally:
        server.stop()
        # stop() leaves the socket listening, so connections would hang instead of failing.
        if server._server is not None:
            server._server.server_close()


def new_bucket(server: S3Server) -> S3Bucket:
    name = f"forkable-test-{uuid.uuid4().hex[:16]}"
    s3_client(server.environ()).create_bucket(Bucket=name)
    return S3Bucket(server=server, name=name)


@pytest.fixture(scope="session")
def s3() -> Iterator[S3Server]:
    """One server for the whole run: starting moto takes about a second."""
    with s3_server() as server:
        yield server


@pytest.fixture
def s3_bucket(s3: S3Server) -> S3Bucket:
    """A new, empty bucket on the shared server, so tests never see each other's objects."""
    return new_bucket(s3)
