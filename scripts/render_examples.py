"""Render the example sites' before/after images and the filters contact sheet.

Run from the repository root after changing a filter:

    .venv/bin/python scripts/render_examples.py

Needs scikit-image (a test dependency) for its bundled public-domain / CC0 sample photos;
examples/PHOTO-CREDITS.md credits them. Output is deterministic: rerunning it without a
filter change rewrites identical files.
"""

from __future__ import annotations

import argparse
import io
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from skimage import data

from forkable.providers.local import FILTERS

ROOT = Path(__file__).resolve().parents[1]

# Site folder -> (filter, photos). Portraits and pets suit the sketch and avatar sites.
SITES: dict[str, tuple[str, tuple[str, ...]]] = {
    "coloringbook": ("coloring_book", ("astronaut", "coffee")),
    "pencilsketch": ("pencil_sketch", ("astronaut", "chelsea")),
    "cartoonavatar": ("cartoon", ("chelsea", "astronaut")),
}
EXAMPLE_SIDE = 800
JPEG_QUALITY = 85

SHEET_PHOTOS = ("astronaut", "chelsea", "coffee")
SHEET_CELL = 240
SHEET_GAP = 8
SHEET_LABEL = 28


def load_photo(name: str) -> Image.Image:
    """Return the named scikit-image sample photo as an RGB image."""
    loader: Callable[[], np.ndarray] = getattr(data, name)
    return Image.fromarray(loader()).convert("RGB")


def fit(image: Image.Image, long_side: int) -> Image.Image:
    """Return image resized (Lanczos) so its longer side is long_side."""
    scale = long_side / max(image.size)
    size = (round(image.width * scale), round(image.height * scale))
    return image if size == image.size else image.resize(size, Image.Resampling.LANCZOS)


def as_jpeg(image: Image.Image) -> bytes:
    """Encode image the way the example 'before' files are stored."""
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=JPEG_QUALITY, optimize=True)
    return buffer.getvalue()


def as_png(image: Image.Image) -> bytes:
    """Encode image as an optimised PNG, palette-based when that is lossless."""
    if image.mode == "RGB" and image.getcolors(256) is not None:
        # The cartoon uses a couple of dozen colours: an exact palette PNG is far smaller.
        image = image.quantize(
            colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE
        )
    buffer = io.BytesIO()
    image.save(buffer, "PNG", optimize=True)
    return buffer.getvalue()


def render_site(root: Path, site: str, filter_name: str, photos: tuple[str, ...]) -> list[Path]:
    """Write NAME-before.jpg and NAME-after.png for each photo of one site; return the paths."""
    folder = root / "examples" / site / "assets" / "examples"
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for photo in photos:
        before_bytes = as_jpeg(fit(load_photo(photo), EXAMPLE_SIDE))
        # The 'after' is made from the decoded JPEG: exactly what a visitor uploading the
        # 'before' file would get back.
        before = Image.open(io.BytesIO(before_bytes)).convert("RGB")
        after = FILTERS[filter_name](before)
        for path, content in (
            (folder / f"{photo}-before.jpg", before_bytes),
            (folder / f"{photo}-after.png", as_png(after)),
        ):
            path.write_bytes(content)
            written.append(path)
    return written


def render_contact_sheet(path: Path) -> Path:
    """Write a grid: one row per photo, columns = original and each filter."""
    columns = ["original", *FILTERS]
    photos = [load_photo(photo) for photo in SHEET_PHOTOS]
    row_heights = [fit(photo, SHEET_CELL).height for photo in photos]
    width = len(columns) * SHEET_CELL + (len(columns) + 1) * SHEET_GAP
    height = SHEET_LABEL + sum(row_heights) + (len(photos) + 1) * SHEET_GAP
    sheet = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=16)
    for index, title in enumerate(columns):
        x = SHEET_GAP + index * (SHEET_CELL + SHEET_GAP)
        draw.text((x + SHEET_CELL // 2, SHEET_LABEL // 2 + 2), title, "black", font, "mm")
    y = SHEET_LABEL + SHEET_GAP
    for photo, row_height in zip(photos, row_heights, strict=True):
        # Filter the full photo, then shrink: that is how the result looks at its real size.
        cells = [photo, *(function(photo) for function in FILTERS.values())]
        for index, cell in enumerate(cells):
            small = fit(cell.convert("RGB"), SHEET_CELL)
            x = SHEET_GAP + index * (SHEET_CELL + SHEET_GAP) + (SHEET_CELL - small.width) // 2
            sheet.paste(small, (x, y))
        y += row_height + SHEET_GAP
    path.parent.mkdir(parents=True, exist_ok=True)
    # 256 adaptive colours keep the photos recognisable and the file under 900 KB.
    quantised = sheet.quantize(
        colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE
    )
    quantised.save(path, "PNG", optimize=True)
    return path


def main(argv: list[str] | None = None) -> int:
    """Render every example pair and the contact sheet, then list what was written."""
    parser = argparse.ArgumentParser(description="Render example images and contact sheet.")
    parser.add_argument("--root", type=Path, default=ROOT, help="repository root to write into")
    args = parser.parse_args(argv)
    root: Path = args.root
    written = [
        path
        for site, (filter_name, photos) in SITES.items()
        for path in render_site(root, site, filter_name, photos)
    ]
    written.append(render_contact_sheet(root / "docs" / "images" / "filters-contact-sheet.png"))
    for path in written:
        sys.stdout.write(f"{path.stat().st_size // 1024:5d} KB  {path.relative_to(root)}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
