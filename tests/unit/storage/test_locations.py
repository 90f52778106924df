"""Media URLs: the forms FORKABLE_MEDIA_URL accepts, and one clear line for those it refuses."""

from __future__ import annotations

from pathlib import Path

import pytest

from forkable.storage import (
    MediaBucket,
    MediaFolder,
    MediaInDatabase,
    MediaLocation,
    media_url_problem,
    parse_media_url,
)

DATA_DIR = Path("/srv/forkable")


@pytest.mark.parametrize(
    ("url", "location"),
    [
        (None, MediaFolder(DATA_DIR / "media")),
        ("", MediaFolder(DATA_DIR / "media")),
        ("file:///var/lib/forkable/media", MediaFolder(Path("/var/lib/forkable/media"))),
        ("file://localhost/var/media/", MediaFolder(Path("/var/media"))),
        ("file:///srv/my%20media", MediaFolder(Path("/srv/my media"))),
        ("FILE:///srv/media", MediaFolder(Path("/srv/media"))),
        ("s3://photos", MediaBucket("photos", "")),
        ("s3://photos/", MediaBucket("photos", "")),
        ("s3://photos/forkable/prod", MediaBucket("photos", "forkable/prod")),
        ("s3://my.photos-2024/media/", MediaBucket("my.photos-2024", "media")),
        ("db:", MediaInDatabase()),
        (" db: ", MediaInDatabase()),
    ],
)
def test_accepted_forms(url: str | None, location: MediaLocation) -> None:
    assert parse_media_url(url, data_dir=DATA_DIR) == location
    assert media_url_problem(url) is None


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("media", "'media' is not a URL: use file:///abs/path, s3://bucket/prefix or db:"),
        (
            "/var/media",
            "'/var/media' is not a URL: use file:///abs/path, s3://bucket/prefix or db:",
        ),
        (
            "file:media",
            "'file:media' is a relative path: write an absolute one as file:///abs/path",
        ),
        (
            "file://media/photos",
            "'file://media/photos' names a host or a relative path: "
            "write an absolute one as file:///abs/path",
        ),
        (
            "file:///srv/../etc",
            "'file:///srv/../etc' has '..' in its path: write the folder itself",
        ),
        ("s3://", "'s3://' names no bucket: write s3://bucket/prefix"),
        ("s3:///prefix", "'s3:///prefix' names no bucket: write s3://bucket/prefix"),
        (
            "s3://Photos/media",
            "'s3://Photos/media': bucket name 'Photos' must be 3 to 63 lowercase letters, "
            "digits, dots or hyphens, starting and ending with a letter or digit",
        ),
        (
            "s3://ab",
            "'s3://ab': bucket name 'ab' must be 3 to 63 lowercase letters, "
            "digits, dots or hyphens, starting and ending with a letter or digit",
        ),
        (
            "s3://photos:9000/media",
            "'s3://photos:9000/media': bucket name 'photos:9000' must be 3 to 63 lowercase "
            "letters, digits, dots or hyphens, starting and ending with a letter or digit",
        ),
        (
            "s3://my..photos",
            "'s3://my..photos': bucket name 'my..photos' must not have two dots, "
            "or a dot beside a hyphen",
        ),
        (
            "s3://192.168.1.10",
            "'s3://192.168.1.10': bucket name '192.168.1.10' must not look like an IP address",
        ),
        (
            "s3://key:secret@photos/media",
            "'s3://key:secret@photos/media' carries credentials: they come from "
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, and the endpoint from "
            "AWS_ENDPOINT_URL_S3",
        ),
        (
            "s3://photos/a//b",
            "'s3://photos/a//b': the prefix has an empty, '.' or '..' part",
        ),
        ("s3://photos/../b", "'s3://photos/../b': the prefix has an empty, '.' or '..' part"),
        (
            "s3://photos/my media",
            "'s3://photos/my media': the prefix may hold only letters, digits, '/', '_', '.' "
            "and '-'",
        ),
        (
            "s3://photos/media?region=eu",
            "'s3://photos/media?region=eu' has a query or fragment, which means nothing here: "
            "use file:///abs/path, s3://bucket/prefix or db:",
        ),
        ("db:media", "'db:media': the database location takes nothing after 'db:'"),
        ("db://host/x", "'db://host/x': the database location takes nothing after 'db:'"),
        (
            "gs://photos/media",
            "'gs://photos/media' has an unknown scheme 'gs': "
            "use file:///abs/path, s3://bucket/prefix or db:",
        ),
        (
            "local",
            "'local' is not a URL: use file:///abs/path, s3://bucket/prefix or db:",
        ),
    ],
)
def test_refused_forms_say_why_in_one_line(url: str, problem: str) -> None:
    assert media_url_problem(url) == problem
    with pytest.raises(ValueError) as raised:
        parse_media_url(url, data_dir=DATA_DIR)
    assert str(raised.value) == problem
    assert "\n" not in problem
