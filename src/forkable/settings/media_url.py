"""The forms of `FORKABLE_MEDIA_URL`: a folder, an S3-compatible bucket, or the database."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

_FORMS = "use file:///abs/path, s3://bucket/prefix or db:"
# S3's rules for new buckets, which R2 and MinIO follow too: 3-63 characters of lowercase
# letters, digits, dots and hyphens, starting and ending with a letter or digit.
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_PREFIX = re.compile(r"^[A-Za-z0-9/_.-]*$")


@dataclass(frozen=True)
class MediaFolder:
    """`file:///abs/path`, or no URL at all: a local folder."""

    path: Path


@dataclass(frozen=True)
class MediaBucket:
    """`s3://bucket/prefix`: objects named `<prefix>/<key>` in an S3-compatible bucket."""

    bucket: str
    prefix: str


@dataclass(frozen=True)
class MediaInDatabase:
    """`db:`: rows of the site's own database."""


MediaLocation = MediaFolder | MediaBucket | MediaInDatabase


def parse_media_url(url: str | None, *, data_dir: Path) -> MediaLocation:
    """The location a media URL names (unset: `media/` in the data dir); ValueError if bad."""
    if url is None or not url.strip():
        return MediaFolder(data_dir / "media")
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if parts.query or parts.fragment:
        raise ValueError(f"{url!r} has a query or fragment, which means nothing here: {_FORMS}")
    if scheme == "file":
        return MediaFolder(_file_path(url, parts.netloc, parts.path))
    if scheme == "s3":
        bucket, prefix = _bucket_and_prefix(url, parts.netloc, parts.path)
        return MediaBucket(bucket, prefix)
    if scheme == "db":
        if parts.netloc or parts.path:
            raise ValueError(f"{url!r}: the database location takes nothing after 'db:'")
        return MediaInDatabase()
    if not scheme:
        raise ValueError(f"{url!r} is not a URL: {_FORMS}")
    raise ValueError(f"{url!r} has an unknown scheme {scheme!r}: {_FORMS}")


def _file_path(url: str, host: str, path: str) -> Path:
    if host and host != "localhost":
        raise ValueError(
            f"{url!r} names a host or a relative path: write an absolute one as file:///abs/path"
        )
    folder = Path(unquote(path))
    if not folder.is_absolute():
        raise ValueError(f"{url!r} is a relative path: write an absolute one as file:///abs/path")
    if ".." in folder.parts:
        raise ValueError(f"{url!r} has '..' in its path: write the folder itself")
    return folder


def _bucket_and_prefix(url: str, netloc: str, path: str) -> tuple[str, str]:
    if "@" in netloc:
        raise ValueError(
            f"{url!r} carries credentials: they come from AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY, and the endpoint from AWS_ENDPOINT_URL_S3"
        )
    if not netloc:
        raise ValueError(f"{url!r} names no bucket: write s3://bucket/prefix")
    problem = _bucket_problem(netloc)
    if problem:
        raise ValueError(f"{url!r}: bucket name {netloc!r} {problem}")
    prefix = path.strip("/")
    if not _PREFIX.match(prefix):
        raise ValueError(
            f"{url!r}: the prefix may hold only letters, digits, '/', '_', '.' and '-'"
        )
    if any(part in ("", ".", "..") for part in prefix.split("/")) and prefix:
        raise ValueError(f"{url!r}: the prefix has an empty, '.' or '..' part")
    return netloc, prefix


def _bucket_problem(bucket: str) -> str | None:
    if not _BUCKET.match(bucket):
        return (
            "must be 3 to 63 lowercase letters, digits, dots or hyphens, "
            "starting and ending with a letter or digit"
        )
    if ".." in bucket or ".-" in bucket or "-." in bucket:
        return "must not have two dots, or a dot beside a hyphen"
    try:
        ipaddress.IPv4Address(bucket)
    except ValueError:
        return None
    return "must not look like an IP address"


def media_url_problem(url: str | None) -> str | None:
    """One line saying what is wrong with a media URL, or None when it is usable."""
    try:
        # The data dir only completes an unset URL, which is never a problem.
        parse_media_url(url, data_dir=Path("/"))
    except ValueError as exc:
        return str(exc)
    return None
