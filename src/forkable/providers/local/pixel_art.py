"""Pixel-art filter: a coarse grid of crisp square blocks in a small retro palette."""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

from forkable.providers.local.filters import (
    U8,
    check_bool,
    check_int,
    release_input,
    resize,
    scaled_size,
    to_rgb,
)
from forkable.providers.local.palette import kmeans_palette, lab_to_rgb, nearest_palette_ids

# Each block's colour is voted on by SUBCELLS x SUBCELLS samples: a majority keeps region
# borders crisp, where a plain average would invent in-between colours along every edge.
SUBCELLS = 4
# Pixels per block in the copy that is smoothed and sampled.
ANALYSIS_PER_BLOCK = 8
# Darker colours get extra votes, so a thin dark feature (an eye, a mouth) keeps its block.
DARK_BONUS = 0.5
# Local contrast is boosted at the scale of one block before sampling, for the same reason.
SHARPEN = 0.7
# A lone block whose four neighbours agree on another colour this close in lightness is
# noise (fur, grain), not a feature, and takes their colour.
SPECK_STEP = 15.0
# Outline a block when a neighbour is lighter by this much (Lab lightness, 0-100) ...
OUTLINE_STEP = 35.0
# ... drawing it in the palette colour closest to its own colour at this brightness.
OUTLINE_SHADE = 0.45


def pixel_art(
    image: Image.Image, *, grid: int = 64, colors: int = 16, outline: bool = True
) -> Image.Image:
    """Turn a photo into retro pixel art: square blocks, few colours (mode "RGB", same size)."""
    grid = check_int("grid", grid, 8, 256)
    colors = check_int("colors", colors, 2, 32)
    outline = check_bool("outline", outline)
    rgb = to_rgb(image)
    release_input(image)
    height, width = rgb.shape[:2]
    # Blocks are whole squares of output pixels; those at the right and bottom edges are cut
    # off when the size is not a multiple of the block.
    block = max(1, round(max(width, height) / grid))
    columns, rows = -(-width // block), -(-height // block)

    samples = _block_samples(rgb, block, columns, rows)
    palette = kmeans_palette(samples, colors)
    votes = nearest_palette_ids(samples, palette).reshape(rows, SUBCELLS, columns, SUBCELLS)
    lightness = palette[:, 0]
    weight = 1.0 + DARK_BONUS * (1.0 - lightness / 100.0)
    tally = np.stack([(votes == index).sum(axis=(1, 3)) for index in range(colors)], axis=-1)
    ids = (tally * weight).argmax(axis=-1)
    ids = _despeckle(ids, lightness)
    colours = lab_to_rgb(palette)
    if outline:
        ids = _outline(ids, palette, colours)
    cells = np.ascontiguousarray(colours[ids], dtype=np.uint8)
    blocks = cv2.resize(
        cells, (columns * block, rows * block), interpolation=cv2.INTER_NEAREST_EXACT
    )
    return Image.fromarray(np.ascontiguousarray(blocks[:height, :width]))


def _block_samples(rgb: U8, block: int, columns: int, rows: int) -> U8:
    """Return a (rows x SUBCELLS, columns x SUBCELLS) sampling of rgb, smoothed and sharpened."""
    height, width = rgb.shape[:2]
    # The analysis copy only needs a few pixels per block; a smaller one keeps the smoothing
    # cheap and makes its reach (in blocks) the same whatever the grid.
    long_side = min(max(width, height), ANALYSIS_PER_BLOCK * max(columns, rows))
    work = resize(rgb, scaled_size(width, height, long_side))
    scale = work.shape[1] / width
    # Extend the copy over the cut-off part of the last blocks so the grid lines up exactly.
    right = round(columns * block * scale) - work.shape[1]
    bottom = round(rows * block * scale) - work.shape[0]
    if right > 0 or bottom > 0:
        work = np.asarray(
            cv2.copyMakeBorder(work, 0, max(0, bottom), 0, max(0, right), cv2.BORDER_REPLICATE),
            dtype=np.uint8,
        )
    # Bilateral smoothing removes noise and fine texture that would speckle the blocks.
    smooth = np.asarray(cv2.bilateralFilter(work, 9, 40, 5), dtype=np.uint8)
    sigma = 0.7 * block * scale
    if sigma >= 0.5:
        blurred = cv2.GaussianBlur(smooth, (0, 0), sigma)
        smooth = np.asarray(cv2.addWeighted(smooth, 1 + SHARPEN, blurred, -SHARPEN, 0))
    return resize(smooth, (columns * SUBCELLS, rows * SUBCELLS))


def _outline(ids: np.ndarray, palette: np.ndarray, colours: U8) -> np.ndarray:
    """Darken the blocks on the dark side of strong edges, using palette colours only."""
    lightness = palette[:, 0][ids]
    padded = np.pad(lightness, 1, mode="edge")
    brightest = np.maximum.reduce(
        [padded[:-2, 1:-1], padded[2:, 1:-1], padded[1:-1, :-2], padded[1:-1, 2:]]
    )
    darker = (colours.astype(np.float32) * OUTLINE_SHADE).astype(np.uint8)
    shade = nearest_palette_ids(darker.reshape(1, -1, 3), palette).reshape(-1)
    return np.where(brightest - lightness > OUTLINE_STEP, shade[ids], ids)


def _despeckle(ids: np.ndarray, lightness: np.ndarray) -> np.ndarray:
    """Give lone blocks the colour of their four agreeing neighbours unless they stand out."""
    padded = np.pad(ids, 1, mode="edge")
    up, down = padded[:-2, 1:-1], padded[2:, 1:-1]
    left, right = padded[1:-1, :-2], padded[1:-1, 2:]
    lone = (up == down) & (up == left) & (up == right) & (up != ids)
    lone &= np.abs(lightness[ids] - lightness[up]) < SPECK_STEP
    return np.where(lone, up, ids)
