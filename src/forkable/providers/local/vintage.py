"""Vintage filter: a faded, warm old print with soft focus, a dark vignette and film grain."""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt
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

F32 = npt.NDArray[np.float32]

SEED = 20240612
# The classic sepia matrix, each row rescaled so white becomes a warm cream, not pure white.
SEPIA = np.array(
    [[0.393, 0.769, 0.189], [0.349, 0.686, 0.168], [0.272, 0.534, 0.131]], dtype=np.float32
)
CREAM = np.array([1.0, 0.93, 0.76], dtype=np.float32)
# Black is lifted to this fraction of white at full strength (faded, milky shadows), warmest
# in red; white loses a little blue and green, like yellowed paper.
FADE = 0.2
FADE_TINT = np.array([1.0, 0.9, 0.75], dtype=np.float32)
YELLOWING = np.array([0.0, 0.018, 0.06], dtype=np.float32)
# A gentle S-curve keeps the lowered contrast from looking merely washed out.
MIDTONE_CONTRAST = 0.026
# Vignette: corners lose up to this share of their light at vignette=1; it starts this far
# out from the centre (0 = centre, 1 = corner) and deepens with this power.
VIGNETTE_DEPTH = 0.75
VIGNETTE_START = 0.35
VIGNETTE_POWER = 1.8
VIGNETTE_SIDE = 256
# Film grain: brightness noise of this amplitude at grain=1, generated at no more than this
# long side and enlarged, which gives clumps of a couple of pixels on a 12-megapixel photo.
GRAIN_AMPLITUDE = 0.08
GRAIN_SIDE = 2048
# Soft focus: blur sigma at blur=1, in pixels of a WORK_SIDE-long copy.
BLUR_SIGMA = 1.5
# The light multiplier is stored as 8 bits where this value means "unchanged".
UNITY = 200


def vintage(
    image: Image.Image,
    *,
    strength: float = 0.7,
    grain: float = 0.5,
    vignette: float = 0.5,
    blur: float = 0.3,
) -> Image.Image:
    """Turn a photo into a faded, warm-toned old print (mode "RGB", same size)."""
    strength = check_float("strength", strength, 0.0, 1.0)
    grain = check_float("grain", grain, 0.0, 1.0)
    vignette = check_float("vignette", vignette, 0.0, 1.0)
    blur = check_float("blur", blur, 0.0, 1.0)
    rgb = to_rgb(image)
    release_input(image)
    height, width = rgb.shape[:2]
    # Everything runs at full size, but as whole-image lookups and 8-bit arithmetic only:
    # per-pixel float work would cost far more than the budget on 12 megapixels.
    sigma = blur * BLUR_SIGMA * max(width, height) / WORK_SIDE
    if sigma >= 0.3:
        rgb = _soften(rgb, sigma)
    mix = (1.0 - strength) * np.eye(3, dtype=np.float32) + strength * SEPIA * (
        CREAM / SEPIA.sum(axis=1)
    )[:, None]
    toned = np.asarray(cv2.transform(rgb, mix), dtype=np.uint8)
    toned = np.asarray(cv2.LUT(toned, _tone_curves(strength)), dtype=np.uint8)
    if vignette == 0 and grain == 0:
        return Image.fromarray(toned)
    light = _light((width, height), vignette, grain)
    result = cv2.multiply(toned, cv2.merge([light, light, light]), scale=1.0 / UNITY)
    return Image.fromarray(np.asarray(result, dtype=np.uint8))


def _soften(rgb: U8, sigma: float) -> U8:
    """Return rgb Gaussian-blurred by sigma, through a smaller copy when sigma is large."""
    height, width = rgb.shape[:2]
    # Shrinking by a whole factor first keeps the blur kernel a few pixels wide; the linear
    # enlargement afterwards adds a little softness of its own, which suits the look.
    shrink = max(1, round(sigma))
    if shrink == 1:
        return np.asarray(cv2.GaussianBlur(rgb, (0, 0), sigma), dtype=np.uint8)
    small = resize(rgb, (max(1, width // shrink), max(1, height // shrink)))
    small = np.asarray(cv2.GaussianBlur(small, (0, 0), sigma / shrink), dtype=np.uint8)
    return np.asarray(
        cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR), dtype=np.uint8
    )


def _tone_curves(strength: float) -> U8:
    """Return a (1, 256, 3) lookup table: lifted warm blacks, yellowed whites, soft S-curve."""
    levels = np.arange(256, dtype=np.float32) / 255.0
    curve = levels - MIDTONE_CONTRAST * strength * np.sin(2.0 * np.pi * levels)
    low = FADE * strength * FADE_TINT
    high = 1.0 - YELLOWING * strength
    table = low[None, :] + (high - low)[None, :] * curve[:, None]
    return np.asarray(np.clip(np.round(table * 255.0), 0, 255), dtype=np.uint8).reshape(1, 256, 3)


def _light(size: tuple[int, int], vignette: float, grain: float) -> U8:
    """Return the full-size 8-bit light multiplier (UNITY = 1): vignette times film grain."""
    width, height = size
    grain_size = scaled_size(width, height, min(max(width, height), GRAIN_SIDE))
    # The vignette is smooth: work it out on a small copy and enlarge it.
    small = scaled_size(width, height, min(max(width, height), VIGNETTE_SIDE))
    columns, rows = np.meshgrid(
        (np.arange(small[0], dtype=np.float32) + 0.5) / small[0] * 2.0 - 1.0,
        (np.arange(small[1], dtype=np.float32) + 0.5) / small[1] * 2.0 - 1.0,
    )
    # Distance 0 at the centre and 1 in the corners, so the vignette follows the frame's shape.
    radius = np.sqrt((columns * columns + rows * rows) / 2.0)
    falloff = np.clip((radius - VIGNETTE_START) / (1.0 - VIGNETTE_START), 0.0, 1.0)
    light = (1.0 - vignette * VIGNETTE_DEPTH * falloff**VIGNETTE_POWER).astype(np.float32)
    if small != grain_size:
        light = np.asarray(cv2.resize(light, grain_size, interpolation=cv2.INTER_LINEAR))
    if grain > 0:
        rng = np.random.default_rng(SEED)
        noise = rng.standard_normal((grain_size[1], grain_size[0]), dtype=np.float32)
        # A slight blur turns single-pixel noise into the soft clumps of real film grain.
        noise = np.asarray(cv2.GaussianBlur(noise, (0, 0), 0.6), dtype=np.float32)
        noise /= max(float(noise.std()), 1e-6)
        light *= 1.0 + GRAIN_AMPLITUDE * grain * noise
    light8 = np.clip(np.round(light * UNITY), 0, 255).astype(np.uint8)
    if grain_size != size:
        light8 = np.asarray(cv2.resize(light8, size, interpolation=cv2.INTER_LINEAR))
    return np.asarray(light8, dtype=np.uint8)
