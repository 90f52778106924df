"""Watercolor filter: soft washes of colour on textured paper, pigment pooled at their edges."""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image

from forkable.providers.local.filters import (
    U8,
    check_float,
    release_input,
    resize,
    to_rgb,
    working_copy,
)

F32 = npt.NDArray[np.float32]

# Every random field (paper, blooms, bleeding) comes from this seed, so output is repeatable.
SEED = 20240611
# Sizes below are in working-copy pixels (1024 long side), so the look is the same at any
# camera resolution.
# How far, and over what distance, colours wander across their outlines (wet-in-wet bleeding).
BLEED_REACH = 2.0
BLEED_SCALE = 10
# Lightness is layered into this many soft bands, like washes glazed one over another.
BANDS = 6
# Share of the banded lightness in the result; the rest keeps the photo's own gradients.
BANDING = 0.6
# Darkest tone of the painting (0 = black): watercolour is transparent and rarely goes black.
DEEPEST = 0.34
# Colour saturation relative to the photo; transparent pigment on white paper glows a little.
SATURATION = 1.15
# Pigment pools where a wash ends: how much darker its rim gets, and the rim's width.
POOLING = 3.0
POOL_WIDTH = 2.5
# Large, faint blotches of uneven pigment (the "blooms" of a real wash).
BLOOM_SCALE = 30
BLOOM = 0.15
# Fine lines along the main edges, like a light pencil underdrawing showing through.
LINE_DARKNESS = 0.3
# The paper: grain size, how much pigment settles in its pits, and its relief shading.
GRAIN_SIGMA = 1.2
GRANULATION = 0.2
RELIEF = 0.03
PAPER_TINT = np.array([1.0, 0.995, 0.98], dtype=np.float32)
# Unpainted paper margin at the widest (margin=1), as a fraction of the short side.
MARGIN_WIDTH = 0.1


def watercolor(
    image: Image.Image, *, softness: float = 0.5, paper: float = 0.5, margin: float = 0.5
) -> Image.Image:
    """Turn a photo into a watercolour painting on textured paper (mode "RGB", same size)."""
    softness = check_float("softness", softness, 0.0, 1.0)
    paper = check_float("paper", paper, 0.0, 1.0)
    margin = check_float("margin", margin, 0.0, 1.0)
    rgb = to_rgb(image)
    release_input(image)
    height, width = rgb.shape[:2]
    # All the painting happens on a 1024-pixel copy: washes are soft, so the full-size
    # result is that copy enlarged, which keeps a 12-megapixel photo well under a second.
    work = working_copy(rgb, allow_upscale=True)
    h, w = work.shape[:2]
    columns, rows = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    dx = BLEED_REACH * _noise((h, w), BLEED_SCALE, 1)
    dy = BLEED_REACH * _noise((h, w), BLEED_SCALE, 2)

    smooth = _smooth(work, softness)
    # Displacing the colours by a smooth random field makes outlines wander like wet paint.
    bled = np.asarray(
        cv2.remap(smooth, columns + dx, rows + dy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT),
        dtype=np.uint8,
    )
    colour = _washes(bled)
    unpainted = _margin_mask(columns, rows, margin) if margin > 0 else None
    if unpainted is not None:
        # Fading to white before the pooling step gives the painted area its own dark rim.
        colour += (1.0 - colour) * unpainted[..., None]
    colour = np.asarray(cv2.GaussianBlur(colour, (0, 0), 0.6 + 1.2 * softness), dtype=np.float32)

    grain = _grain((h, w))
    lightness = np.asarray(cv2.cvtColor(colour, cv2.COLOR_RGB2GRAY), dtype=np.float32)
    blurred = np.asarray(cv2.GaussianBlur(lightness, (0, 0), POOL_WIDTH), dtype=np.float32)
    # A pixel darker than its surroundings sits at the dark side of an edge: that is where the
    # pigment of a drying wash collects.
    rim = np.clip(blurred - lightness, 0.0, 1.0)
    density = (
        1.0 + POOLING * rim + BLOOM * _noise((h, w), BLOOM_SCALE, 3) + GRANULATION * paper * grain
    )
    # Pigment density model (Bousseau et al. 2006): density above 1 darkens, below lightens,
    # and white paper and full black stay put.
    colour -= (colour - colour * colour) * (density - 1.0)[..., None]
    # The underdrawing wanders only half as far as the paint.
    lines = _edge_lines(smooth, columns + 0.5 * dx, rows + 0.5 * dy)
    if unpainted is not None:
        lines *= 1.0 - unpainted
    colour *= (1.0 - LINE_DARKNESS * lines)[..., None]
    # The paper's relief catches the light from the top left, painted or not.
    relief = cv2.Sobel(grain, cv2.CV_32F, 1, 0) + cv2.Sobel(grain, cv2.CV_32F, 0, 1)
    relief /= max(float(relief.std()), 1e-6)
    colour *= (1.0 + RELIEF * paper * relief)[..., None] * PAPER_TINT
    painted = np.clip(colour * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return Image.fromarray(resize(painted, (width, height)))


def _smooth(work: U8, softness: float) -> U8:
    """Return work with texture and shading flattened into broad areas of colour."""
    h, w = work.shape[:2]
    median = np.asarray(cv2.medianBlur(work, 5), dtype=np.uint8)
    # Bilateral passes at half size: cheaper, and each reaches twice as far.
    half = resize(median, (max(1, w // 2), max(1, h // 2)))
    for _ in range(1 + round(3 * softness)):
        half = np.asarray(cv2.bilateralFilter(half, 9, 30 + 30 * softness, 5), dtype=np.uint8)
    return np.asarray(cv2.resize(half, (w, h), interpolation=cv2.INTER_LINEAR), dtype=np.uint8)


def _washes(rgb: U8) -> F32:
    """Return rgb as float RGB in [0, 1], lightened, more saturated, its tones in soft bands."""
    lab = np.asarray(
        cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab), dtype=np.float32
    )
    lightness = lab[..., 0] / 100.0
    # Soft steps between bands: each band is flat in the middle and ramps at its ends.
    scaled = lightness * BANDS
    floor = np.floor(scaled)
    step = np.clip((scaled - floor - 0.35) / 0.3, 0.0, 1.0)
    banded = (floor + step * step * (3.0 - 2.0 * step)) / BANDS
    tone = BANDING * banded + (1.0 - BANDING) * lightness
    # A slight gamma opens the shadows, then the whole range is lifted off black.
    tone = 1.0 - (1.0 - tone**0.85) * (1.0 - DEEPEST)
    lab[..., 0] = tone * 100.0
    lab[..., 1:] *= SATURATION
    colour = cv2.cvtColor(lab, cv2.COLOR_Lab2RGB)
    return np.asarray(np.clip(colour, 0.0, 1.0), dtype=np.float32)


def _margin_mask(columns: F32, rows: F32, margin: float) -> F32:
    """Return 1 where the paper is left unpainted along the border, 0 inside, soft between."""
    h, w = columns.shape
    short = float(min(h, w))
    inset = np.minimum(np.minimum(columns, w - 1 - columns), np.minimum(rows, h - 1 - rows))
    width = MARGIN_WIDTH * margin
    # A broad wavy line with a little finer wobble: a hand-painted edge, not a torn one. It is
    # kept within 30-170 % of the nominal width so the paint never reaches the border.
    wobble = np.clip(0.3 * _noise((h, w), 110, 4) + 0.08 * _noise((h, w), 18, 5), -0.7, 0.7)
    depth = inset / short - width * wobble
    step = np.clip((width - depth) / 0.03, 0.0, 1.0)
    return np.asarray(step * step * (3.0 - 2.0 * step), dtype=np.float32)


def _edge_lines(smooth: U8, columns: F32, rows: F32) -> F32:
    """Return thin soft lines (0 to 1) along the dark side of the main edges of smooth."""
    grey = np.asarray(cv2.cvtColor(smooth, cv2.COLOR_RGB2GRAY), dtype=np.float32) / 255.0
    grey = np.asarray(
        cv2.remap(grey, columns, rows, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT),
        dtype=np.float32,
    )
    # Difference of Gaussians: negative just inside the darker side of an edge.
    dog = cv2.GaussianBlur(grey, (0, 0), 1.0) - cv2.GaussianBlur(grey, (0, 0), 2.0)
    return np.asarray(np.clip(-12.0 * dog, 0.0, 1.0), dtype=np.float32)


def _grain(shape: tuple[int, int]) -> F32:
    """Return the paper's height field: fine grain over gentle undulation, unit variance."""
    rng = np.random.default_rng([SEED, 0])
    grain = np.asarray(
        cv2.GaussianBlur(rng.standard_normal(shape, dtype=np.float32), (0, 0), GRAIN_SIGMA),
        dtype=np.float32,
    )
    grain /= max(float(grain.std()), 1e-6)
    grain += 0.6 * _noise(shape, 5, 6)
    return np.asarray(grain / max(float(grain.std()), 1e-6), dtype=np.float32)


def _noise(shape: tuple[int, int], scale: int, stream: int) -> F32:
    """Return smooth random noise of unit variance whose blobs are about scale pixels wide."""
    h, w = shape
    rng = np.random.default_rng([SEED, stream])
    coarse = rng.standard_normal((h // scale + 2, w // scale + 2), dtype=np.float32)
    noise = np.asarray(cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC), dtype=np.float32)
    return np.asarray(noise / max(float(noise.std()), 1e-6), dtype=np.float32)
