"""Media in an S3-compatible bucket (AWS S3, Cloudflare R2, MinIO), under one key prefix."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from forkable.storage.base import MediaUnavailable, MissingMedia, checked_key

if TYPE_CHECKING:
    from types_boto3_s3.client import S3Client

# A bad endpoint fails a request instead of holding a worker. A refused connection fails at
# once; an unroutable host after ATTEMPTS x CONNECT_TIMEOUT (9 s); a server that accepts and
# stays silent after ATTEMPTS x (1 s waiting for "100 Continue" on a put + READ_TIMEOUT) (18 s).
CONNECT_TIMEOUT_SECONDS = 3.0
# The longest silence while waiting for an answer (not the whole transfer of a large photo).
READ_TIMEOUT_SECONDS = 5.0
ATTEMPTS = 3
# Above the runner's and the web server's threads, so none waits for a pooled connection.
MAX_CONNECTIONS = 32
DEFAULT_REGION = "us-east-1"

_MISSING_CODES = frozenset({"NoSuchKey", "404", "NotFound"})
_REASONS = {
    "NoSuchBucket": "the bucket does not exist",
    "AccessDenied": "access denied",
    "InvalidAccessKeyId": "the access key is not known",
    "SignatureDoesNotMatch": "the secret key does not match the access key",
}


def s3_client(
    environ: Mapping[str, str],
    *,
    connect_timeout: float = CONNECT_TIMEOUT_SECONDS,
    read_timeout: float = READ_TIMEOUT_SECONDS,
    attempts: int = ATTEMPTS,
) -> S3Client:
    """A client from the standard AWS variables in ``environ``, with bounded timeouts and retries.

    Keys left out of ``environ`` fall back to botocore's own chain (instance roles, profiles);
    the endpoint comes from ``environ`` alone, never from botocore's look-ups elsewhere.
    """
    config = Config(  # type: ignore[call-arg]  # botocore-stubs lacks the endpoint switch
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        retries={"mode": "standard", "total_max_attempts": attempts},
        max_pool_connections=MAX_CONNECTIONS,
        ignore_configured_endpoint_urls=True,
        # R2, MinIO and other S3-compatible servers do not all accept the checksums newer
        # botocore adds to every request by default; send them only where S3 requires them.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    # One session per client: boto3's default session is shared state that is not thread-safe.
    session = boto3.session.Session()
    return session.client(
        "s3",
        region_name=environ.get("AWS_REGION")
        or environ.get("AWS_DEFAULT_REGION")
        or DEFAULT_REGION,
        endpoint_url=environ.get("AWS_ENDPOINT_URL_S3") or environ.get("AWS_ENDPOINT_URL") or None,
        aws_access_key_id=environ.get("AWS_ACCESS_KEY_ID") or None,
        aws_secret_access_key=environ.get("AWS_SECRET_ACCESS_KEY") or None,
        aws_session_token=environ.get("AWS_SESSION_TOKEN") or None,
        config=config,
    )


def _one_line(text: str) -> str:
    return " ".join(text.split())


class S3MediaStore:
    """Objects named ``<prefix>/<key>`` in one bucket; the client is shared by every thread."""

    def __init__(self, client: S3Client, *, bucket: str, prefix: str = "") -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")

    def _name(self, key: str) -> str:
        key = checked_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    @contextmanager
    def _reaching(self, on_missing: Callable[[], Exception] | None = None) -> Iterator[None]:
        """Turn the client's failures into MediaUnavailable (or MissingMedia) with one line."""
        try:
            yield
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if on_missing is not None and code in _MISSING_CODES:
                raise on_missing() from None
            reason = _REASONS.get(code) or _one_line(str(exc))
            raise MediaUnavailable(self._where(reason)) from exc
        except BotoCoreError as exc:
            raise MediaUnavailable(self._where(_one_line(str(exc)))) from exc

    def _where(self, reason: str) -> str:
        return f"S3 bucket {self.bucket!r} at {self.client.meta.endpoint_url}: {reason}"

    def put(self, key: str, data: bytes, content_type: str) -> None:
        name = self._name(key)
        with self._reaching():
            self.client.put_object(
                Bucket=self.bucket, Key=name, Body=data, ContentType=content_type
            )

    def get(self, key: str) -> bytes:
        name = self._name(key)
        with self._reaching(on_missing=lambda: MissingMedia(key)):
            response = self.client.get_object(Bucket=self.bucket, Key=name)
            with response["Body"] as body:
                return body.read()

    def delete(self, key: str) -> None:
        # S3 answers a delete of a missing object with success, like the other stores.
        name = self._name(key)
        with self._reaching():
            self.client.delete_object(Bucket=self.bucket, Key=name)

    def check(self) -> None:
        """Write and remove a small probe object under the prefix; MediaUnavailable if either fails."""
        probe = f".readyz-{uuid.uuid4().hex}"
        name = f"{self.prefix}/{probe}" if self.prefix else probe
        with self._reaching():
            self.client.put_object(Bucket=self.bucket, Key=name, Body=b"ok")
            self.client.delete_object(Bucket=self.bucket, Key=name)
