"""Cartoon filter: flat colour regions from a small palette, outlined in dark ink."""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

from forkable.providers.local.coloring_book import line_mask
from forkable.providers.local.filters import (
    check_int,
    release_input,
    resize,
    scaled_size,
    to_rgb,
    upscale_mask,
    working_copy,
)
from forkable.providers.local.palette import (
    kmeans_palette,
    lab_to_rgb,
    nearest_palette_ids,
)

# Long side of the copy the colour regions are computed on.
SMOOTH_SIDE = 640
# Outlines are the region's own colour, much darker, rather than flat black: it looks inked
# yet keeps the image's warmth.
INK = 0.25


def cartoon(
    image: Image.Image, *, colors: int = 12, line_thickness: int = 2, smoothness: int = 4
) -> Image.Image:
    """Turn a photo into a flat-coloured, outlined cartoon (mode "RGB", same size)."""
    colors = check_int("colors", colors, 2, 32)
    line_thickness = check_int("line_thickness", line_thickness, 0, 8)
    smoothness = check_int("smoothness", smoothness, 0, 8)
    rgb = to_rgb(image)
    release_input(image)
    height, width = rgb.shape[:2]
    # Colour regions are broad, so they are worked out on a small copy; it keeps the costly
    # bilateral passes cheap. Outlines, which need the detail, use a larger one below.
    if max(width, height) > SMOOTH_SIDE:
        small = resize(rgb, scaled_size(width, height, SMOOTH_SIDE))
    else:
        small = rgb
    smooth = np.asarray(cv2.medianBlur(small, 7), dtype=np.uint8)
    for _ in range(smoothness):
        smooth = np.asarray(cv2.bilateralFilter(smooth, 9, 40, 7), dtype=np.uint8)

    palette = kmeans_palette(smooth, colors)
    if smooth.shape[:2] != (height, width):
        # Enlarge the smoothed colours (not the quantised ones) so region borders come out
        # smooth curves at full size, not enlarged pixel steps.
        smooth = np.asarray(
            cv2.resize(smooth, (width, height), interpolation=cv2.INTER_LINEAR), dtype=np.uint8
        )
    # Whole-image work is done with OpenCV lookups: at 12 MP, numpy fancy indexing per pixel
    # would cost more than all the smoothing.
    ids = nearest_palette_ids(smooth, palette)
    colours = lab_to_rgb(palette)
    if line_thickness > 0:
        # Outlines come from the coloring-book line finder; inked pixels switch to the darker
        # twin of their colour, stored right after the palette.
        line_work = working_copy(rgb, allow_upscale=True)
        lines = line_mask(line_work, line_thickness=line_thickness, detail=0.3)
        _, offset = cv2.threshold(
            upscale_mask(lines, (width, height)), 127, colors, cv2.THRESH_BINARY
        )
        ids = np.asarray(cv2.add(ids, offset), dtype=np.uint8)
        colours = np.concatenate([colours, (colours * INK).astype(np.uint8)])
    table = np.zeros((1, 256, 3), dtype=np.uint8)
    table[0, : len(colours)] = colours
    result = cv2.LUT(cv2.merge([ids, ids, ids]), table)
    return Image.fromarray(np.asarray(result, dtype=np.uint8))
