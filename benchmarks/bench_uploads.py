"""Checking uploads: `validate_image` on a 12-megapixel camera JPEG, and how fast a
decompression bomb is refused. Measured numbers, not test limits (the tests check what
happens; how long it takes on a shared machine belongs here).

Usage: .venv/bin/python benchmarks/bench_uploads.py [--runs 7]
Writes its section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import statistics
import struct
import time
import zlib

from common import machine, today, write_section
from flow import camera_like, jpeg, photo

from forkable.generations.uploads import UploadError, validate_image

SIZE = (4000, 3000)
QUALITY = 92
NOISE = 6.0  # grain, as in bench_filter.py: a camera file's size and decoding cost
MAX_BYTES = 20_000_000
TARGET_S = 1.0  # per 12-MP photo, the bound the unit test used to assert


def camera_file(name: str) -> bytes:
    return jpeg(camera_like(photo(name, 640), SIZE, NOISE, seed=0), QUALITY)


def png_bomb(width: int, height: int) -> bytes:
    """A few bytes of PNG whose header claims ``width`` x ``height`` RGB pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\0" + b"\0\0\0")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def timed(call: object, runs: int) -> list[float]:
    """Seconds per call, ``runs`` times after one warm-up."""
    call()  # type: ignore[operator]
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        call()  # type: ignore[operator]
        times.append(time.perf_counter() - started)
    return times


def refuse(data: bytes) -> None:
    try:
        validate_image(data, max_bytes=MAX_BYTES)
    except UploadError:
        return
    raise AssertionError("the bomb was accepted")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--photo", default="coffee")
    args = parser.parse_args()
    data = camera_file(args.photo)
    checks = timed(lambda: validate_image(data, max_bytes=MAX_BYTES), args.runs)
    bomb = png_bomb(30_000, 30_000)
    bombs = timed(lambda: refuse(bomb), args.runs)
    median = statistics.median(checks)
    verdict = "met" if median < TARGET_S else "**not met**"
    body = f"""## Checking uploads (validate_image)

Run on {today()}: {machine()}.
Command: `.venv/bin/python benchmarks/bench_uploads.py --runs {args.runs} --photo {args.photo}`.

`validate_image` (sniff, decode, EXIF orientation, strip metadata, re-encode) on a
{SIZE[0]}x{SIZE[1]} JPEG made from scikit-image `{args.photo}` like bench_filter's camera
files (q{QUALITY}, grain sigma {NOISE:g}; {len(data) / 1e6:.1f} MB), {args.runs} runs after a
warm-up: {", ".join(f"{s:.2f}" for s in checks)} s.

**Median {median:.2f} s per 12-MP photo** (target under {TARGET_S:g} s: {verdict}).

A {len(bomb)}-byte PNG claiming 30000x30000 pixels is refused before decoding in a median
{statistics.median(bombs) * 1000:.2f} ms.
"""
    write_section("uploads", body)
    print(body)


if __name__ == "__main__":
    main()
