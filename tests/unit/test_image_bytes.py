"""Images encoded through an in-memory file: the same bytes Pillow writes anywhere else."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from forkable.image_bytes import encode_image


def noisy(mode: str, size: tuple[int, int] = (320, 200)) -> Image.Image:
    channels = {"RGB": 3, "RGBA": 4, "L": 1}[mode]
    pixels = np.random.default_rng(7).integers(0, 256, (size[1], size[0], channels), np.uint8)
    return Image.fromarray(pixels.squeeze(), mode)


@pytest.mark.parametrize(
    ("mode", "format", "params"),
    [
        ("RGB", "JPEG", {"quality": 92}),
        ("RGBA", "PNG", {"compress_level": 1}),
        ("L", "PNG", {}),
        ("RGB", "WEBP", {"quality": 80}),
    ],
)
def test_the_bytes_are_what_pillow_writes_into_a_buffer(
    mode: str, format: str, params: dict[str, object]
) -> None:
    image = noisy(mode)
    buffer = io.BytesIO()
    image.save(buffer, format, **params)
    encoded = encode_image(image, format, **params)
    assert encoded == buffer.getvalue()
    with Image.open(io.BytesIO(encoded)) as decoded:
        assert (decoded.format, decoded.size) == (format, image.size)


def test_a_failing_encode_raises() -> None:
    with pytest.raises(OSError):
        encode_image(noisy("RGBA"), "JPEG")  # JPEG has no alpha
