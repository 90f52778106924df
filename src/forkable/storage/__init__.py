"""Media storage: uploaded photos and results, outside any web root."""

from forkable.storage.base import MediaStore, MissingMedia
from forkable.storage.local import LocalMediaStore

__all__ = ["LocalMediaStore", "MediaStore", "MissingMedia"]
