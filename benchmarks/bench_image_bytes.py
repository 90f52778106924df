"""Filters a second beside a thread re-encoding uploads: Pillow into BytesIO (GIL held while it
encodes) against `forkable.image_bytes.encode_image` (an in-memory file, GIL released).

Usage: .venv/bin/python benchmarks/bench_image_bytes.py [--seconds 6] [--rounds 6]
Writes its section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import io
import statistics
import threading
import time
from collections.abc import Callable

from common import machine, today, write_section
from flow import PHOTOS, decode, jpeg, photo
from PIL import Image

from forkable.image_bytes import encode_image
from forkable.providers.local import apply_filter

FILTER = "coloring_book"
LONG_SIDE = 1600
WORKERS = 2
QUALITY = 92  # as uploads are re-encoded
ENCODE_PAUSE_SECONDS = 0.03  # between two re-encodes: about the upload rate of a busy site

Encoder = Callable[[Image.Image], bytes]


def into_bytesio(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=QUALITY)
    return buffer.getvalue()


def into_memory_file(image: Image.Image) -> bytes:
    return encode_image(image, "JPEG", quality=QUALITY)


ENCODERS: dict[str, Encoder] = {
    "Pillow into io.BytesIO": into_bytesio,
    "encode_image (in-memory file)": into_memory_file,
}


def one_run(images: list[Image.Image], encode: Encoder, seconds: float) -> tuple[float, float]:
    """Filters a second on WORKERS threads, and re-encodes a second on one more thread."""
    stop = time.monotonic() + seconds
    filtered = [0] * WORKERS
    encoded = [0]

    def filter_loop(worker: int) -> None:
        turn = worker
        while time.monotonic() < stop:
            apply_filter(FILTER, images[turn % len(images)])
            filtered[worker] += 1
            turn += 1

    def encode_loop() -> None:
        turn = 0
        while time.monotonic() < stop:
            encode(images[turn % len(images)])
            encoded[0] += 1
            turn += 1
            time.sleep(ENCODE_PAUSE_SECONDS)

    threads = [threading.Thread(target=filter_loop, args=(n,)) for n in range(WORKERS)]
    threads.append(threading.Thread(target=encode_loop))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(filtered) / seconds, encoded[0] / seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    images = [decode(jpeg(photo(name, LONG_SIDE), 90)) for name in PHOTOS]
    if into_bytesio(images[0]) != into_memory_file(images[0]):
        raise SystemExit("the two ways of encoding gave different files")
    for encode in ENCODERS.values():
        one_run(images, encode, 1.0)  # warm up
    rates: dict[str, list[tuple[float, float]]] = {label: [] for label in ENCODERS}
    for number in range(args.rounds):
        order = list(ENCODERS) if number % 2 == 0 else list(reversed(ENCODERS))
        for label in order:
            rates[label].append(one_run(images, ENCODERS[label], args.seconds))
            print(label, rates[label][-1], flush=True)
    medians = {label: statistics.median(r[0] for r in runs) for label, runs in rates.items()}
    held, released = medians.values()
    rows = "\n".join(
        f"| {label} | {medians[label]:.2f} | "
        f"{statistics.median(r[1] for r in rates[label]):.1f} | "
        f"{', '.join(f'{r[0]:.2f}' for r in rates[label])} |"
        for label in ENCODERS
    )
    body = f"""## Encoding images without holding the GIL

Run on {today()}: {machine()}.
Command: `.venv/bin/python benchmarks/bench_image_bytes.py --seconds {args.seconds:g} --rounds {args.rounds}`.

{WORKERS} threads run `apply_filter("{FILTER}", ...)` on the four photos ({LONG_SIDE} px, decoded)
for {args.seconds:g} s, as the job workers do, while one more thread re-encodes the same photos
as JPEG q{QUALITY}, as uploads are re-encoded, with a {ENCODE_PAUSE_SECONDS * 1000:.0f} ms pause between two.
Rounds alternate the order of the two ways of encoding.

| encoding | filters/s (median) | re-encodes/s | filters/s per round |
| --- | --- | --- | --- |
{rows}

The filters ran **{(released / held - 1) * 100:+.1f}%** faster beside encodes that release the GIL;
the encoding thread, no longer holding the others up, gets its fair share of the cores and
no more, so it re-encodes a little less in the same time.
"""
    write_section("image_bytes", body)
    print(body)


if __name__ == "__main__":
    main()
