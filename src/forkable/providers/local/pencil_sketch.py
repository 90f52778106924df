"""Pencil-sketch filter: the classic colour-dodge of a photo's grey with its blurred negative."""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

from forkable.providers.local.filters import (
    U8,
    WORK_SIDE,
    check_float,
    release_input,
    resize,
    scaled_size,
    to_rgb,
)

# Fraction of the grey range that shadows are lifted by before the dodge.
SHADOW_LIFT = 0.08
# How dark the shading of a black area gets (0 = none, 1 = black).
SHADING = 0.3


def pencil_sketch(
    image: Image.Image, *, blur_radius: float = 10.0, darkness: float = 2.5
) -> Image.Image:
    """Turn a photo into a grey pencil drawing on paper-white (mode "L", same size)."""
    blur_radius = check_float("blur_radius", blur_radius, 1.0, 40.0)
    darkness = check_float("darkness", darkness, 1.0, 5.0)
    grey = np.asarray(cv2.cvtColor(to_rgb(image), cv2.COLOR_RGB2GRAY), dtype=np.uint8)
    release_input(image)
    height, width = grey.shape
    # The blur radius is meant at a WORK_SIDE long side so strokes look alike at any size.
    scale = max(width, height) / WORK_SIDE
    # A touch of blur first so sensor noise and JPEG blocks do not turn into pencil dust.
    grey = np.asarray(cv2.GaussianBlur(grey, (0, 0), max(0.5, 0.6 * scale)), dtype=np.uint8)
    # Lift the shadows: the dodge divides by the local darkness, so near-black areas would
    # otherwise turn into solid black blotches full of amplified noise.
    grey = np.asarray(cv2.convertScaleAbs(grey, alpha=1 - SHADOW_LIFT, beta=255 * SHADOW_LIFT))
    inverted_blur = _blurred_negative(grey, blur_radius * scale)
    # Colour dodge: grey / (1 - blurred negative). Flat areas become pure white, edges dark.
    sketch = cv2.divide(grey, 255 - inverted_blur, scale=256)
    # Raw dodge output is faint; a gamma above 1 darkens the strokes but keeps paper white.
    levels = np.arange(256) / 255.0
    strokes = cv2.LUT(sketch, (255.0 * levels**darkness).round().astype(np.uint8))
    # The dodge keeps only edges, so dark areas would come out white; shade them a little,
    # the way a pencil fills in a black coat, starting below mid-grey.
    shade = 1.0 - SHADING * np.clip((levels - 0.55) / 0.45, 0.0, 1.0)
    tone = cv2.LUT(inverted_blur, (255.0 * shade).round().astype(np.uint8))
    sketch = cv2.multiply(strokes, tone, scale=1 / 255)
    return Image.fromarray(np.asarray(sketch, dtype=np.uint8))


def _blurred_negative(grey: U8, sigma: float) -> U8:
    """Return the Gaussian-blurred negative of grey, computed at reduced size when it is big."""
    height, width = grey.shape
    negative = 255 - grey
    # A wide blur is low-frequency: run it on a copy shrunk until sigma is about 4 pixels and
    # enlarge the result. Same look as a full-size blur, at a fraction of the cost on 12 MP.
    shrink = min(1.0, 4.0 / sigma)
    if shrink >= 1.0:
        return np.asarray(cv2.GaussianBlur(negative, (0, 0), sigma), dtype=np.uint8)
    small_size = scaled_size(width, height, max(1, round(max(width, height) * shrink)))
    small = resize(negative, small_size)
    small = np.asarray(cv2.GaussianBlur(small, (0, 0), sigma * shrink), dtype=np.uint8)
    return np.asarray(
        cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR), dtype=np.uint8
    )
