"""Media storage: uploaded photos and results, outside any web root."""

from forkable.settings.media_url import (
    MediaBucket,
    MediaFolder,
    MediaInDatabase,
    MediaLocation,
    media_url_problem,
    parse_media_url,
)
from forkable.storage.base import MediaStore, MediaUnavailable, MissingMedia
from forkable.storage.local import LocalMediaStore
from forkable.storage.locations import open_media_store, open_store

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
    "open_store",
    "parse_media_url",
]
