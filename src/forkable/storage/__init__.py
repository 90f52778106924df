"""Media storage: uploaded photos and results, outside any web root."""

from forkable.storage.base import MediaStore, MediaUnavailable, MissingMedia
from forkable.storage.local import LocalMediaStore
from forkable.storage.locations import (
    MediaBucket,
    MediaFolder,
    MediaInDatabase,
    MediaLocation,
    media_url_problem,
    open_media_store,
    parse_media_url,
)

__all__ = [
    "LocalMediaStore",
    "MediaBucket",
    "MediaFolder",
    "MediaInDatabase",
    "MediaLocation",
    "MediaStore",
    "MediaUnavailable",
    "MissingMedia",
    "media_url_problem",
    "open_media_store",
    "parse_media_url",
]
