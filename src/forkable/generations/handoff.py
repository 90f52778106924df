"""Decoded uploads passed from the request that accepted them to the worker that runs them.

The stored input file stays the truth: a job picked up after a restart, by another process or
after its image was left out of here reads and decodes that file. Within one process the
worker skips that decode (a few milliseconds a photo) by taking the pixels the upload check
already decoded.

Memory is bounded by a pixel budget: an image that would exceed it is not kept (its worker
decodes the file), so a long queue never holds more than a few photos' pixels. Entries nobody
took (the job ran in another process) are dropped once they are older than ``max_age``.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from PIL import Image


@dataclass(frozen=True)
class _Entry:
    image: Image.Image
    pixels: int
    added: float


class DecodedInputs:
    """A thread-safe map from generation id to its decoded input image, within a budget."""

    def __init__(self, max_pixels: int, *, max_age: float = 120.0) -> None:
        self.max_pixels = max_pixels
        self.max_age = max_age
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._pixels = 0
        self._lock = threading.Lock()

    def put(self, generation_id: str, image: Image.Image) -> bool:
        """Keep the image for its worker; False (nothing kept) when over the budget."""
        pixels = image.width * image.height
        now = time.monotonic()
        with self._lock:
            self._drop_older_than(now - self.max_age)
            if self._pixels + pixels > self.max_pixels:
                # The oldest entries are the next jobs to run: keep them, skip this one.
                return False
            self._entries[generation_id] = _Entry(image, pixels, now)
            self._pixels += pixels
            return True

    def take(self, generation_id: str) -> Image.Image | None:
        """The image, removed from the map; None when it was not kept."""
        with self._lock:
            entry = self._entries.pop(generation_id, None)
            if entry is None:
                return None
            self._pixels -= entry.pixels
            return entry.image

    @property
    def pixels(self) -> int:
        with self._lock:
            return self._pixels

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def _drop_older_than(self, cutoff: float) -> None:
        while self._entries:
            generation_id, entry = next(iter(self._entries.items()))
            if entry.added >= cutoff:
                return
            del self._entries[generation_id]
            self._pixels -= entry.pixels
