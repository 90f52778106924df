"""Seeded k-means colour palettes in chroma-weighted Lab, shared by cartoon and pixel_art."""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from forkable.providers.local.filters import U8

F32 = npt.NDArray[np.float32]

# Pixels sampled to learn the palette: plenty for 32 colours, and k-means stays fast.
SAMPLES = 20_000
ITERATIONS = 20
SEED = 20240601
# Hue differences count this much more than lightness ones when grouping colours, so skin
# stays apart from a grey wall of similar brightness and shading does not split into bands.
CHROMA_WEIGHT = 2.0
# Palette colours get a little extra saturation; cartoons are brighter than life.
CHROMA_BOOST = 1.15
# Colour lookups use 5 bits per channel (32 768 cells), fine enough to be invisible.
BITS = 5


def kmeans_palette(rgb: U8, colors: int) -> F32:
    """Return a (colors, 3) Lab palette learnt by seeded k-means on a sample of rgb."""
    lab = to_lab(rgb.reshape(-1, 3))
    step = max(1, len(lab) // SAMPLES)
    samples = lab[::step]
    rng = np.random.default_rng(SEED)
    # k-means++ seeding: each new centre is drawn far from the ones already chosen.
    centres = [samples[rng.integers(len(samples))]]
    nearest = squared_distances(samples, np.array(centres))[:, 0]
    for _ in range(1, colors):
        total = float(nearest.sum())
        if total > 0:
            centre = samples[rng.choice(len(samples), p=nearest / total)]
        else:
            centre = samples[rng.integers(len(samples))]
        centres.append(centre)
        nearest = np.minimum(nearest, squared_distances(samples, centre[None, :])[:, 0])
    palette = np.array(centres, dtype=np.float32)
    for _ in range(ITERATIONS):
        labels = squared_distances(samples, palette).argmin(axis=1)
        counts = np.bincount(labels, minlength=colors)
        sums = np.stack(
            [np.bincount(labels, weights=samples[:, axis], minlength=colors) for axis in range(3)],
            axis=1,
        )
        # A centre that lost all its pixels stays where it was rather than dividing by zero.
        occupied = counts > 0
        updated = palette.copy()
        updated[occupied] = (sums[occupied] / counts[occupied, None]).astype(np.float32)
        if np.allclose(updated, palette, atol=0.05):
            break
        palette = updated
    return palette


def nearest_palette_ids(rgb: U8, palette: F32) -> U8:
    """Return, per pixel of rgb, the index of the nearest palette colour (by Lab distance)."""
    # Each pixel's colour is first reduced to a 5-bit-per-channel cell index; a small table
    # then maps every one of the 32 768 cells to its nearest palette entry.
    shift = 8 - BITS
    values = np.arange(256) >> shift
    weights = np.stack([values << (2 * BITS), values << BITS, values], axis=-1)
    parts = cv2.LUT(rgb, weights.astype(np.uint16).reshape(1, 256, 3))
    cell = np.asarray(cv2.transform(parts, np.ones((1, 3), dtype=np.float32)), dtype=np.uint16)
    levels = (np.arange(2**BITS) << shift) + (1 << (shift - 1))
    grid = np.stack(np.meshgrid(levels, levels, levels, indexing="ij"), axis=-1).reshape(-1, 3)
    nearest = squared_distances(to_lab(grid.astype(np.uint8)), palette).argmin(axis=1)
    return np.asarray(np.take(nearest.astype(np.uint8), cell), dtype=np.uint8)


def lab_to_rgb(palette: F32) -> U8:
    """Convert an (n, 3) weighted Lab palette (see to_lab) to RGB uint8, boosting chroma."""
    lab = palette.copy()
    lab[:, 1:] *= CHROMA_BOOST / CHROMA_WEIGHT
    rgb = cv2.cvtColor(lab.reshape(1, -1, 3), cv2.COLOR_Lab2RGB).reshape(-1, 3)
    return np.clip(np.round(rgb * 255.0), 0, 255).astype(np.uint8)


def to_lab(pixels: U8) -> F32:
    """Convert (n, 3) RGB uint8 pixels to Lab with the chroma axes weighted by CHROMA_WEIGHT."""
    as_float = pixels.reshape(1, -1, 3).astype(np.float32) / 255.0
    lab = np.asarray(cv2.cvtColor(as_float, cv2.COLOR_RGB2Lab), dtype=np.float32).reshape(-1, 3)
    lab[:, 1:] *= CHROMA_WEIGHT
    return np.asarray(lab, dtype=np.float32)


def squared_distances(points: F32, centres: F32) -> F32:
    """Return the (n, k) squared Euclidean distances between points and centres."""
    # Axis by axis over contiguous columns, one centre at a time (k is at most 32): fast in
    # plain numpy, and free of BLAS threading, which made the matrix-product form slow under
    # load.
    axes = np.ascontiguousarray(points.T)
    columns = []
    for centre in centres:
        total = np.zeros(len(points), dtype=np.float32)
        for axis in range(3):
            difference = axes[axis] - centre[axis]
            total += difference * difference
        columns.append(total)
    return np.asarray(np.stack(columns, axis=1), dtype=np.float32)
