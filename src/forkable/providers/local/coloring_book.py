"""Coloring-book filter: a photo becomes clean black line art on white, ready to print."""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

from forkable.providers.local.filters import (
    U8,
    check_float,
    check_int,
    disk,
    release_input,
    remove_small_components,
    resize,
    scaled_size,
    shrink_for_work,
    to_rgb,
    upscale_mask,
    working_copy,
)

# Chroma differences are small numbers in 8-bit Lab; amplify them so a red cup on brown wood
# counts as an edge even where the lightness barely changes.
CHROMA_GAIN = 2.0
# Weakest gradient ever called an edge: keeps flat or noisy photos from turning into lines.
FINE_FLOOR = 60.0
COARSE_FLOOR = 40.0
# Canny follows an edge down to this fraction of its start threshold, so outlines run on
# through weak stretches instead of breaking up.
HYSTERESIS = 0.25
# Longest gap (working-size pixels) bridged between a line's loose end and another line.
BRIDGE_REACH = 14
# Soft outlines (an out-of-focus silhouette, a cheek against pale fur) ramp too gently to
# register at working size; on a copy this small their ramps are steep enough to find.
SOFT_SIDE = 256
# As for the other passes: the photo's strongest tenth of gradients, never below the floor.
SOFT_PERCENTILE = 90
SOFT_FLOOR = 20.0
# Only long soft outlines are drawn, at least this fraction of the short side end to end:
# short ones at that scale are texture, not shapes.
SOFT_MIN_EXTENT = 0.2
SOFT_MAX_WINDING = 3.0
# A soft outline within this many working pixels of a line already found is the same edge.
SOFT_NEAR = 13


def coloring_book(
    image: Image.Image, *, line_thickness: int = 2, detail: float = 0.5
) -> Image.Image:
    """Turn a photo into black-on-white line art (mode "L", only 0 and 255)."""
    line_thickness = check_int("line_thickness", line_thickness, 1, 8)
    detail = check_float("detail", detail, 0.0, 1.0)
    size = image.size
    rgb = to_rgb(shrink_for_work(image))
    release_input(image)
    work = working_copy(rgb, allow_upscale=True)
    del rgb  # a full-size copy is never needed: lines are found at working size
    lines = line_mask(work, line_thickness=line_thickness, detail=detail, soft_outlines=True)
    mask = upscale_mask(lines, size)
    cv2.bitwise_not(mask, dst=mask)  # in place: at 12 MP every extra copy is 12 MB
    return Image.fromarray(mask)


def line_mask(work: U8, *, line_thickness: int, detail: float, soft_outlines: bool = False) -> U8:
    """Return the 0/255 line mask (255 = ink) of a working-size RGB image."""
    height, width = work.shape[:2]
    # The median removes fine texture (wood grain, fur, whiskers, JPEG noise) that would
    # otherwise become hatching; more detail keeps more of it.
    median = 9 if detail < 0.25 else 7 if detail < 0.75 else 5
    flattened = np.asarray(cv2.medianBlur(work, median), dtype=np.uint8)
    # Bilateral smoothing flattens shading inside objects while keeping their outlines sharp;
    # it is the expensive step, so it runs at half size (which also widens its reach).
    half = resize(flattened, (max(1, width // 2), max(1, height // 2)))
    for _ in range(3):
        half = np.asarray(cv2.bilateralFilter(half, 7, 40, 5), dtype=np.uint8)
    smooth = resize(half, (width, height))

    # Fine edges (faces, small parts) come from the smoothed image; coarse edges (the big
    # silhouettes with soft borders, like a cat against a blurred background) from a blurred
    # copy. Each keeps only the strongest gradients of its own image.
    fine = _edges(smooth, percentile=92 - 6 * detail, floor=FINE_FLOOR)
    blurred = np.asarray(cv2.GaussianBlur(smooth, (0, 0), 6.0), dtype=np.uint8)
    coarse = _edges(blurred, percentile=95 - 3 * detail, floor=COARSE_FLOOR)
    # A coarse edge near a fine one is the same outline, slightly displaced: keep only the
    # coarse edges that add something, or every strong outline would be drawn twice.
    near_fine = np.asarray(cv2.dilate(fine, disk(9)), dtype=np.uint8)
    edges = fine | (coarse & ~near_fine)
    if soft_outlines:
        # Close-ups that fill the frame (a cat's face) have few sharp edges; their shapes are
        # in the gentle ones.
        edges |= _soft_outlines(smooth, edges)

    # Close pixel-sized gaps, drop specks no child wants to colour, then join broken outlines
    # so the regions they enclose close up.
    edges = np.asarray(cv2.morphologyEx(edges, cv2.MORPH_CLOSE, disk(3)), dtype=np.uint8)
    edges = remove_small_components(edges, min_area=round(150 - 100 * detail))
    edges = _bridge_gaps(edges, reach=BRIDGE_REACH)
    # Canny lines are 1 px wide; thickness 1 already gets a 2 px stroke so it survives printing.
    edges = np.asarray(cv2.dilate(edges, disk(line_thickness + 1)), dtype=np.uint8)
    return edges


def _edges(rgb: U8, *, percentile: float, floor: float) -> U8:
    """Return Canny edges of rgb in Lab space, thresholded relative to its own gradients."""
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB).astype(np.float32)
    lab[..., 1:] = (lab[..., 1:] - 128.0) * CHROMA_GAIN + 128.0
    lab8 = np.clip(lab, 0, 255).astype(np.uint8)
    # Canny on a 3-channel image uses, per pixel, the channel with the strongest gradient;
    # mirror that here to pick thresholds that adapt to the photo's contrast.
    magnitude = np.zeros(lab8.shape[:2], dtype=np.float32)
    for channel in cv2.split(lab8):
        dx = cv2.Sobel(channel, cv2.CV_32F, 1, 0)
        dy = cv2.Sobel(channel, cv2.CV_32F, 0, 1)
        magnitude = np.maximum(magnitude, cv2.magnitude(dx, dy))
    # Every other row and column is plenty to estimate a percentile, at a quarter of the cost.
    high = max(float(np.percentile(magnitude[::2, ::2], percentile)), floor)
    return np.asarray(cv2.Canny(lab8, HYSTERESIS * high, high, L2gradient=True), dtype=np.uint8)


def _soft_outlines(smooth: U8, edges: U8) -> U8:
    """Return thin lines along the long, gentle edges of smooth that edges does not have."""
    height, width = smooth.shape[:2]
    found = np.zeros_like(edges)
    if max(width, height) < 2 * SOFT_SIDE:
        return found
    small = resize(smooth, scaled_size(width, height, SOFT_SIDE))
    lines = _edges(small, percentile=SOFT_PERCENTILE, floor=SOFT_FLOOR)
    _, labels, stats, _ = cv2.connectedComponentsWithStats(lines, connectivity=8)
    extent = np.maximum(stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT])
    # A simple curve has about as many pixels as its extent; a tangle (a lattice tower, fur)
    # has many more and would be drawn as a scribble.
    simple = stats[:, cv2.CC_STAT_AREA] <= SOFT_MAX_WINDING * extent
    long_enough = extent >= SOFT_MIN_EXTENT * min(small.shape[:2])
    keep = (simple & long_enough).astype(np.uint8) * 255
    keep[0] = 0
    contours, _ = cv2.findContours(keep[labels], cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
    # Redraw each line at working size as a 1-pixel polyline through its enlarged points,
    # smoothed along its length, rather than enlarging pixels into a blocky band.
    scale = np.array([width / small.shape[1], height / small.shape[0]], dtype=np.float32)
    window = np.ones(5, dtype=np.float32) / 5
    polylines = []
    for contour in contours:
        points = contour[:, 0, :].astype(np.float32)
        if len(points) >= len(window):
            wrapped = np.concatenate([points[-2:], points, points[:2]])
            points = np.stack(
                [np.convolve(wrapped[:, axis], window, mode="valid") for axis in range(2)], axis=1
            )
        polylines.append(np.round((points + 0.5) * scale - 0.5).astype(np.int32)[:, None, :])
    cv2.polylines(found, polylines, False, 255, 1)
    found &= ~np.asarray(cv2.dilate(edges, disk(SOFT_NEAR)), dtype=np.uint8)
    return found


def _bridge_gaps(edges: U8, *, reach: int) -> U8:
    """Draw a short segment from each loose line end to the nearest other line ahead of it."""
    ink = (edges > 0).astype(np.uint8)
    ring = np.array([[1, 1, 1], [1, 0, 1], [1, 1, 1]], dtype=np.float32)
    neighbours = cv2.filter2D(ink, cv2.CV_8U, ring, borderType=cv2.BORDER_CONSTANT)
    ends = np.argwhere((ink == 1) & (neighbours == 1))
    _, labels = cv2.connectedComponents(ink, connectivity=8)
    bridged = edges.copy()
    for y, x in ends:
        top, left = max(0, y - reach), max(0, x - reach)
        window = labels[top : y + reach + 1, left : x + reach + 1]
        here = np.array([y - top, x - left])
        own = np.argwhere(window == labels[y, x])
        # The line's own last few pixels tell which way it was heading.
        tail = own[((own - here) ** 2).sum(axis=1) <= 25]
        heading = here - tail.mean(axis=0)
        norm = float(np.hypot(*heading))
        if norm == 0:
            continue
        others = np.argwhere((window > 0) & (window != labels[y, x]))
        if len(others) == 0:
            continue
        offsets = others - here
        distances = np.hypot(offsets[:, 0], offsets[:, 1])
        # Only targets within ~60 degrees of the heading: a line end should continue, not hook.
        ahead = (offsets @ heading) >= 0.5 * distances * norm
        ahead &= distances <= reach
        if not ahead.any():
            continue
        target = others[ahead][np.argmin(distances[ahead])]
        cv2.line(bridged, (int(x), int(y)), (int(left + target[1]), int(top + target[0])), 255, 1)
    return bridged
