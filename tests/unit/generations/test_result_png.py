"""Result PNGs: line art as exact 1-bit files, everything else through Pillow unchanged."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from tests.factories import photo_bytes

from forkable.generations.result_png import encode_result_png, line_art_png
from forkable.providers.local import apply_filter


def _decoded(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


@pytest.mark.parametrize("width", [1, 7, 8, 9, 333])
def test_line_art_round_trips_at_every_row_width(width: int) -> None:
    rng = np.random.default_rng(width)
    pixels = (rng.integers(0, 2, size=(5, width)) * 255).astype(np.uint8)

    decoded = _decoded(line_art_png(Image.fromarray(pixels)))

    assert (decoded.mode, decoded.size) == ("1", (width, 5))
    assert np.array_equal(np.asarray(decoded.convert("L")), pixels)


def test_a_coloring_page_is_written_as_1_bit_with_the_same_pixels() -> None:
    page = apply_filter("coloring_book", _decoded(photo_bytes("chelsea")))
    assert page.mode == "L"

    decoded = _decoded(encode_result_png(page))

    assert decoded.mode == "1"
    assert np.array_equal(np.asarray(decoded.convert("L")), np.asarray(page))
    assert not decoded.info  # no text chunks, no metadata


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA"])
def test_images_with_other_values_keep_their_mode_and_pixels(mode: str) -> None:
    rng = np.random.default_rng(1)
    shape = {"L": (6, 10), "RGB": (6, 10, 3), "RGBA": (6, 10, 4)}[mode]
    image = Image.fromarray(rng.integers(0, 256, size=shape, dtype=np.uint8))

    decoded = _decoded(encode_result_png(image))

    assert decoded.mode == mode
    assert np.array_equal(np.asarray(decoded), np.asarray(image))
