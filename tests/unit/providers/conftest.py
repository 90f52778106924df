"""Fixtures shared by the local-filter tests: sample photos and the filters' outputs on them."""

from __future__ import annotations

import pytest
from PIL import Image
from skimage import data

from forkable.providers.local import FILTERS

PHOTOS = ("astronaut", "chelsea", "coffee", "rocket")


class Outputs(dict[tuple[str, str], Image.Image]):
    """Default output of (filter, photo), computed on first use and kept for the session."""

    def __init__(self, photos: dict[str, Image.Image]) -> None:
        super().__init__()
        self.photos = photos

    def __missing__(self, key: tuple[str, str]) -> Image.Image:
        name, photo = key
        self[key] = result = FILTERS[name](self.photos[photo])
        return result


@pytest.fixture(scope="session")
def photos() -> dict[str, Image.Image]:
    return {name: Image.fromarray(getattr(data, name)()) for name in PHOTOS}


@pytest.fixture(scope="session")
def outputs(photos: dict[str, Image.Image]) -> Outputs:
    """Filter outputs shared by every test that needs them, so each is computed once."""
    return Outputs(photos)
