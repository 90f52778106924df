"""The S3 store against moto's S3 server on loopback: prefixes, content types and failures."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
from tests.support.s3 import S3Bucket, s3_server
from tests.support.smtp import free_port

from forkable.storage import MediaUnavailable, MissingMedia
from forkable.storage.s3 import S3MediaStore, s3_client

KEY = "demo/ab/abcdef-result-1.png"


def _store(bucket: S3Bucket, prefix: str = "media") -> S3MediaStore:
    return S3MediaStore(s3_client(bucket.environ()), bucket=bucket.name, prefix=prefix)


def _names(bucket: S3Bucket) -> list[str]:
    listing = s3_client(bucket.environ()).list_objects_v2(Bucket=bucket.name)
    return sorted(item["Key"] for item in listing.get("Contents", []))


def test_objects_live_under_the_prefix_with_their_content_type(s3_bucket: S3Bucket) -> None:
    store = _store(s3_bucket, prefix="/sites/media/")
    store.put(KEY, b"\x89PNG", "image/png")
    head = store.client.head_object(Bucket=s3_bucket.name, Key=f"sites/media/{KEY}")
    assert head["ContentType"] == "image/png"
    assert head["ContentLength"] == 4
    assert _names(s3_bucket) == [f"sites/media/{KEY}"]
    assert store.get(KEY) == b"\x89PNG"


def test_without_a_prefix_keys_are_object_names(s3_bucket: S3Bucket) -> None:
    _store(s3_bucket, prefix="").put(KEY, b"x", "image/png")
    assert _names(s3_bucket) == [KEY]


def test_two_prefixes_in_one_bucket_do_not_see_each_other(s3_bucket: S3Bucket) -> None:
    first, second = _store(s3_bucket, "site-one"), _store(s3_bucket, "site-two")
    first.put(KEY, b"one", "image/png")
    with pytest.raises(MissingMedia):
        second.get(KEY)
    second.put(KEY, b"two", "image/png")
    second.delete(KEY)
    assert first.get(KEY) == b"one"
    assert _names(s3_bucket) == [f"site-one/{KEY}"]


def test_check_leaves_no_probe_object_behind(s3_bucket: S3Bucket) -> None:
    _store(s3_bucket).check()
    assert _names(s3_bucket) == []


def test_a_bucket_that_does_not_exist_fails_check_with_one_clear_line(s3_bucket: S3Bucket) -> None:
    store = S3MediaStore(s3_client(s3_bucket.environ()), bucket="no-such-bucket-here")
    with pytest.raises(MediaUnavailable) as raised:
        store.check()
    message = str(raised.value)
    assert message == (
        f"S3 bucket 'no-such-bucket-here' at {s3_bucket.server.endpoint}: the bucket does not exist"
    )
    with pytest.raises(MediaUnavailable, match="does not exist"):
        store.put(KEY, b"x", "image/png")
    with pytest.raises(MediaUnavailable, match="does not exist"):
        store.get(KEY)


def test_a_stopped_server_fails_every_call_within_seconds() -> None:
    with s3_server() as server:
        client = s3_client(server.environ())
        client.create_bucket(Bucket="short-lived")
        store = S3MediaStore(client, bucket="short-lived", prefix="media")
        store.put(KEY, b"x", "image/png")
    for call in (store.check, lambda: store.get(KEY), lambda: store.put(KEY, b"y", "image/png")):
        started = time.monotonic()
        with pytest.raises(MediaUnavailable) as raised:
            call()
        assert time.monotonic() - started < 5
        assert str(raised.value).startswith(f"S3 bucket 'short-lived' at {server.endpoint}: ")
        assert "\n" not in str(raised.value)


def test_a_port_nobody_listens_on_fails_check_within_seconds() -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    environ = {"AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s", "AWS_ENDPOINT_URL": endpoint}
    store = S3MediaStore(s3_client(environ), bucket="anything")
    started = time.monotonic()
    with pytest.raises(MediaUnavailable, match="Could not connect to the endpoint URL"):
        store.check()
    assert time.monotonic() - started < 5


@pytest.fixture
def silent_endpoint() -> Iterator[str]:
    """A server that accepts connections and never answers."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        accepted: list[socket.socket] = []
        stop = threading.Event()

        def accept() -> None:
            listener.settimeout(0.1)
            while not stop.is_set():
                try:
                    accepted.append(listener.accept()[0])
                except TimeoutError:
                    continue

        thread = threading.Thread(target=accept, daemon=True)
        thread.start()
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
        stop.set()
        thread.join()
        for connection in accepted:
            connection.close()


def test_a_server_that_never_answers_fails_after_the_bounded_attempts(
    silent_endpoint: str,
) -> None:
    environ = {
        "AWS_ACCESS_KEY_ID": "k",
        "AWS_SECRET_ACCESS_KEY": "s",
        "AWS_ENDPOINT_URL": silent_endpoint,
    }
    client = s3_client(environ, read_timeout=0.5, attempts=2)
    store = S3MediaStore(client, bucket="anything")
    started = time.monotonic()
    with pytest.raises(MediaUnavailable, match="Read timeout"):
        store.check()
    # Each attempt: botocore's one-second wait for "100 Continue", then the read timeout.
    assert 2 * 1.5 <= time.monotonic() - started < 2 * 1.5 + 1.5


def test_the_service_endpoint_wins_over_the_general_one(s3_bucket: S3Bucket) -> None:
    environ = {**s3_bucket.environ(), "AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}"}
    store = S3MediaStore(s3_client(environ), bucket=s3_bucket.name)
    store.check()
    assert store.client.meta.endpoint_url == s3_bucket.server.endpoint


def test_many_threads_share_one_client(s3_bucket: S3Bucket) -> None:
    store = _store(s3_bucket)
    failures: list[BaseException] = []

    def write(worker: int) -> None:
        try:
            for n in range(10):
                store.put(f"demo/w{worker}/{n}.png", bytes([worker, n]) * 1000, "image/png")
        except BaseException as exc:
            failures.append(exc)

    workers = [threading.Thread(target=write, args=(w,)) for w in range(16)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert failures == []
    assert len(_names(s3_bucket)) == 160
    assert store.get("demo/w15/9.png") == bytes([15, 9]) * 1000
