"""Every local filter on a 12-megapixel camera-like photo: median time against a 1 s target.

Usage: .venv/bin/python benchmarks/bench_filters.py [--runs 5] [--photo coffee]
Writes its section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import textwrap
import time

import numpy as np
from common import machine, today, write_section
from PIL import Image
from skimage import data

from forkable.providers.local import FILTERS

SIZE = (4000, 3000)
TARGET_SECONDS = 1.0
NOISE_SIGMA = 3.0
JPEG_QUALITY = 92


def camera_photo(name: str) -> Image.Image:
    """Return a skimage photo made to look like a 12 MP phone JPEG: 4:3, noisy, compressed."""
    photo = Image.fromarray(getattr(data, name)()).convert("RGB")
    # Crop to the camera's 4:3 before enlarging, so nothing is stretched.
    width, height = photo.size
    crop_width = min(width, round(height * 4 / 3))
    crop_height = min(height, round(crop_width * 3 / 4))
    left, top = (width - crop_width) // 2, (height - crop_height) // 2
    photo = photo.crop((left, top, left + crop_width, top + crop_height))
    large = np.asarray(photo.resize(SIZE, Image.Resampling.LANCZOS), dtype=np.float32)
    # Mild sensor noise, then the JPEG round trip a phone would do.
    large += np.random.default_rng(0).normal(0.0, NOISE_SIGMA, large.shape).astype(np.float32)
    buffer = io.BytesIO()
    Image.fromarray(np.clip(large, 0, 255).astype(np.uint8)).save(
        buffer, "JPEG", quality=JPEG_QUALITY
    )
    decoded = Image.open(io.BytesIO(buffer.getvalue()))
    decoded.load()
    return decoded


def time_filter(name: str, photo: Image.Image, runs: int) -> tuple[list[float], list[float]]:
    """Return wall-clock and CPU seconds of runs calls, after one untimed warm-up call."""
    function = FILTERS[name]
    function(photo)
    wall, cpu = [], []
    for _ in range(runs):
        started, started_cpu = time.perf_counter(), time.process_time()
        function(photo)
        wall.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
    return wall, cpu


def main(argv: list[str] | None = None) -> int:
    """Time every filter, print the table and write it to docs/benchmarks.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=5, help="timed runs per filter (>= 5)")
    parser.add_argument("--photo", default="coffee", help="skimage.data photo to enlarge")
    args = parser.parse_args(argv)
    runs = max(5, args.runs)
    photo = camera_photo(args.photo)
    rows = []
    all_met = True
    load_before = os.getloadavg()[0]
    for name in FILTERS:
        seconds, cpu = time_filter(name, photo, runs)
        median = statistics.median(seconds)
        met = median < TARGET_SECONDS
        all_met &= met
        rows.append(
            f"| `{name}` | {median:.2f} | {min(seconds):.2f} | {max(seconds):.2f} "
            f"| {statistics.median(cpu):.2f} "
            f"| {'met' if met else 'not met'} |"
        )
        sys.stdout.write(rows[-1] + "\n")
    load_after = os.getloadavg()[0]
    given = sys.argv[1:] if argv is None else argv
    command = " ".join([".venv/bin/python benchmarks/bench_filters.py", *given])
    setup = " ".join(
        [
            f"Run on {today()}: {machine()}.",
            f"Command: `{command}`.",
            f"Input: skimage `{args.photo}` cropped to 4:3, enlarged to {SIZE[0]}x{SIZE[1]}",
            f"(Lanczos), Gaussian noise sigma {NOISE_SIGMA:g}, JPEG quality {JPEG_QUALITY},",
            "decoded. Each filter is called directly on the decoded PIL image with default",
            f"parameters: one warm-up call, then {runs} timed calls. Times include the PIL to",
            "NumPy conversion both ways.",
            f"One-minute load average {load_before:.1f} before, {load_after:.1f} after: other",
            "work on the same 2 cores inflates the wall-clock numbers. CPU seconds (summed over",
            "the process's threads, so they may exceed the wall time) are less affected by it.",
        ]
    )
    body = "\n".join(
        [
            "## Local filters on a 12-megapixel photo",
            "",
            textwrap.fill(setup, width=95, break_on_hyphens=False),
            "",
            "| filter | median s | min s | max s | median CPU s | under 1 s |",
            "| --- | --- | --- | --- | --- | --- |",
            *rows,
            "",
            f"Target: every filter under {TARGET_SECONDS:g} s (median): "
            f"{'met' if all_met else 'not met'}.",
        ]
    )
    write_section("filters", body)
    return 0 if all_met else 1


if __name__ == "__main__":
    raise SystemExit(main())
