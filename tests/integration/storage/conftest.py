"""The loopback S3 server and its per-test buckets, for every storage test."""

from tests.support.s3 import s3, s3_bucket

__all__ = ["s3", "s3_bucket"]
