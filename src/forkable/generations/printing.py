"""Print-ready PDFs of results: one fitted page, or a coloring book with a cover.

Pages have the exact vector size of the paper (A4 595.28 x 841.89 pt, Letter 612 x 792 pt) and
each image is fitted inside a 12 mm margin on every side. Home inkjet and laser printers cannot
print the outer 3 to 6.4 mm of a sheet (Letter laser printers leave about a quarter inch), and a
printer driver that meets an image reaching its unprintable edge shrinks the whole page to fit,
so the picture no longer prints at the size the PDF says. 12 mm clears every common printer with
room to spare and still leaves 89% of an A4 sheet's width for the picture.

A landscape image goes on a landscape page, anything else on a portrait one. The image is drawn
as large as the margins allow, centred, and never resampled up: a small image keeps its pixels
and is simply drawn larger (below 300 dpi then; printing it smaller would waste the page, and
inventing pixels adds no detail). Larger sources are resampled down only above a cap:

- line art (only black and white pixels, what coloring pages are) is embedded losslessly and
  kept up to 600 dpi, the native resolution of most printers, where its edges stay crisp;
- any other image is embedded as a JPEG (quality 90, no chroma subsampling) of at most 300 dpi,
  the print industry's standard for photos; more shows no difference on paper.

Pages go to the file as they are made (`forkable.generations.pdf_file`): composing reads one
image at a time and writes its page before the next is read, so only one image, decoded or
encoded, is alive at any moment, whatever the book's length. A JPEG source is decoded at the
smallest scale that still covers its cap (JPEG decoders can skip detail they are not asked
for), and the caps also keep each page's file small.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import BinaryIO, Literal

from PIL import Image
from reportlab.lib.colors import HexColor
from reportlab.lib.units import mm
from reportlab.lib.utils import simpleSplit
from reportlab.pdfbase.pdfmetrics import stringWidth

from forkable.generations.pdf_file import (
    ImageData,
    PdfFile,
    in_win_ansi,
    jpeg_image,
    literal,
    number,
    pixel_image,
)
from forkable.image_bytes import encode_image

PaperName = Literal["a4", "letter"]

MARGIN_PT = 12 * mm
LINE_ART_MAX_DPI = 600
PHOTO_MAX_DPI = 300
JPEG_QUALITY = 90
_BAND_ROWS = 256
# Text on the cover: a PDF standard font, present in every reader, so nothing is embedded (it
# covers Western European scripts; other characters print as boxes, ZapfDingbats' "n", as
# reportlab's width measurement assumes).
_BOLD = "Helvetica-Bold"
_BOXES = "ZapfDingbats"
_INK = "#111827"


@dataclass(frozen=True)
class Paper:
    name: PaperName
    width: float  # points (1/72 inch), portrait
    height: float


PAPERS: dict[str, Paper] = {
    # ISO 216: 210 x 297 mm; US Letter: 8.5 x 11 in.
    "a4": Paper("a4", 210 * mm, 297 * mm),
    "letter": Paper("letter", 612.0, 792.0),
}


@dataclass(frozen=True)
class Placement:
    """Where an image of ``pixels`` goes on a page, in points from the bottom left corner."""

    page_width: float
    page_height: float
    x: float
    y: float
    width: float
    height: float
    pixels: tuple[int, int]

    @property
    def dpi(self) -> float:
        """Pixels per inch of the image as drawn."""
        return self.pixels[0] / (self.width / 72)


def place(pixels: tuple[int, int], paper: Paper) -> Placement:
    """Fit an image of ``pixels`` (width, height) within the margins of the fitting page."""
    width_px, height_px = pixels
    landscape = width_px > height_px
    page_width, page_height = (
        (paper.height, paper.width) if landscape else (paper.width, paper.height)
    )
    box_width = page_width - 2 * MARGIN_PT
    box_height = page_height - 2 * MARGIN_PT
    scale = min(box_width / width_px, box_height / height_px)  # points per pixel
    width, height = width_px * scale, height_px * scale
    return Placement(
        page_width=page_width,
        page_height=page_height,
        x=(page_width - width) / 2,
        y=(page_height - height) / 2,
        width=width,
        height=height,
        pixels=pixels,
    )


@dataclass(frozen=True)
class Cover:
    """What the first page of a book shows: the site's brand and the book's title."""

    site_name: str
    title: str
    primary_color: str  # "#rrggbb", the site's brand colors
    accent_color: str
    on_primary: str  # text color readable on the primary color
    logo: bytes | None = None  # a raster logo (PNG, WebP, JPEG); SVG logos are not drawn


def result_pdf(image_data: bytes, paper: Paper, *, title: str, author: str) -> bytes:
    """A one-page PDF of one result image."""
    out = io.BytesIO()
    pdf = PdfFile(out, title=title, author=author)
    _image_page(pdf, image_data, paper)
    pdf.close()
    return out.getvalue()


def book_pdf(cover: Cover, images: Iterable[bytes], paper: Paper, out: BinaryIO) -> int:
    """Write a book to ``out``: the cover, then one page per image; returns the page count.

    ``images`` is read lazily, one image at a time: pass a generator that loads each one.
    Each page is written to ``out`` before the next image is read.
    """
    pdf = PdfFile(out, title=cover.title, author=cover.site_name)
    _cover_page(pdf, cover, paper)
    for image_data in images:
        _image_page(pdf, image_data, paper)
        del image_data  # not kept alive beside the next image while that one is read
    pdf.close()
    return pdf.page_count


def _image_page(pdf: PdfFile, image_data: bytes, paper: Paper) -> None:
    """A page with the image fitted on it."""
    placement, embedded = _embeddable(image_data, paper)
    image = pdf.add_image(embedded)
    box = " ".join(
        number(v) for v in (placement.width, 0, 0, placement.height, placement.x, placement.y)
    )
    pdf.add_page(
        (placement.page_width, placement.page_height),
        [f"q {box} cm /Im0 Do Q"],
        images={"Im0": image},
    )


def _embeddable(image_data: bytes, paper: Paper) -> tuple[Placement, ImageData]:
    """Where the image goes, and the image as the PDF will hold it: resampled down to its cap,
    then line art as pixels (compressed losslessly), anything else as a JPEG.

    Each image is dropped as soon as its smaller copy exists.
    """
    image: Image.Image = Image.open(io.BytesIO(image_data))
    placement = place(image.size, paper)
    if image.format == "JPEG" and placement.dpi > PHOTO_MAX_DPI:
        # Decoded at 1/2, 1/4 or 1/8 scale when that still has the pixels 300 dpi needs: a
        # quarter of the memory or less. A JPEG is never line art (its edges are never pure
        # black and white), so it is capped as a photo.
        image.draft(image.mode, _capped(placement, PHOTO_MAX_DPI))
    image.load()
    line_art = is_line_art(image)
    cap = LINE_ART_MAX_DPI if line_art else PHOTO_MAX_DPI
    image = _flatten(image)
    if placement.dpi > cap:
        image = _resized(image, _capped(placement, cap))
    if line_art:
        return placement, pixel_image(image)
    # Encoded into a real file, without holding the GIL (see forkable.image_bytes).
    data = encode_image(image, "JPEG", quality=JPEG_QUALITY, subsampling=0)
    return placement, jpeg_image(data, image.size, image.mode)


def _capped(placement: Placement, dpi: int) -> tuple[int, int]:
    """The pixel size of the placed image at ``dpi``."""
    scale = dpi / placement.dpi
    width, height = placement.pixels
    return max(1, round(width * scale)), max(1, round(height * scale))


def _resized(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """``image.resize(size, LANCZOS)``, made in bands of rows.

    Pillow resizes in two passes, and the first one's result (new width by old height) costs
    as much as the final image again: 35 MB for a 12-megapixel photo. Band by band, the filter
    still reads its neighbours across band edges from the whole source (``box`` only says which
    part to resample), so the result is the same to within rounding (at most 2 levels in 255),
    with one band's intermediate at a time: 27 MB less at the peak for a 12-megapixel photo.
    """
    width, height = size
    scale_y = image.height / height
    out = Image.new(image.mode, size)
    for top in range(0, height, _BAND_ROWS):
        bottom = min(height, top + _BAND_ROWS)
        box = (0.0, top * scale_y, float(image.width), bottom * scale_y)
        band = image.resize((width, bottom - top), Image.Resampling.LANCZOS, box=box)
        out.paste(band, (0, top))
    return out


def is_line_art(image: Image.Image) -> bool:
    """True when every pixel is pure black or pure white."""
    if image.mode == "1":
        return True
    if image.mode != "L":
        return False
    histogram = image.histogram()
    return sum(histogram[1:255]) == 0


def _flatten(image: Image.Image) -> Image.Image:
    """Grey or RGB on white: paper has no transparency."""
    if image.mode in ("L", "RGB"):
        return image
    if image.mode == "1":
        return image.convert("L")
    rgba = image.convert("RGBA")
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(white, rgba).convert("RGB")


def _cover_page(pdf: PdfFile, cover: Cover, paper: Paper) -> None:
    """The brand band with the site's name (and raster logo) on top, the title below it."""
    width, height = paper.width, paper.height
    band = height * 0.22
    content = [
        _fill(cover.primary_color),
        _rect(0, height - band, width, band),
        _fill(cover.accent_color),
        _rect(0, 0, width, MARGIN_PT),
    ]
    images: dict[str, int] = {}
    text_x = MARGIN_PT * 2
    logo = _logo(cover.logo)
    if logo is not None:
        side = band * 0.5
        images["Logo"] = pdf.add_image(logo)
        y = height - band / 2 - side / 2
        content.append(
            f"q {number(side)} 0 0 {number(side)} {number(text_x)} {number(y)} cm /Logo Do Q"
        )
        text_x += side + MARGIN_PT
    content.append(_fill(cover.on_primary))
    name_size = 28.0
    name = _fit_line(cover.site_name, _BOLD, name_size, width - text_x - MARGIN_PT * 2)
    content.append(_text(name, text_x, height - band / 2 - name_size / 3, name_size))

    content.append(_fill(_INK))
    size = 40.0
    lines = simpleSplit(cover.title, _BOLD, size, width - MARGIN_PT * 4)
    while len(lines) > 3 and size > 20:
        size -= 4
        lines = simpleSplit(cover.title, _BOLD, size, width - MARGIN_PT * 4)
    top = height * 0.55 + len(lines) * size * 0.6
    for index, line in enumerate(lines):
        centred = width / 2 - stringWidth(line, _BOLD, size) / 2
        content.append(_text(line, centred, top - index * size * 1.2, size))
    fonts = {"F1": pdf.add_font(_BOLD), "F2": pdf.add_font(_BOXES)}
    pdf.add_page((width, height), content, images=images, fonts=fonts)


def _fill(color: str) -> str:
    """Fill with a "#rrggbb" color from now on."""
    rgb = HexColor(color)
    return f"{number(rgb.red)} {number(rgb.green)} {number(rgb.blue)} rg"


def _rect(x: float, y: float, width: float, height: float) -> str:
    return f"{number(x)} {number(y)} {number(width)} {number(height)} re f"


def _text(text: str, x: float, y: float, size: float) -> str:
    """One line of text in the cover's font, its baseline starting at x, y."""
    runs = []
    for printable, group in itertools.groupby(text, key=in_win_ansi):
        chars = "".join(group)
        if printable:
            runs.append(f"/F1 {number(size)} Tf {literal(chars)} Tj")
        else:  # no glyph in the font: one box each
            runs.append(f"/F2 {number(size)} Tf {literal('n' * len(chars))} Tj")
    return f"BT {number(x)} {number(y)} Td {' '.join(runs)} ET"


def _fit_line(text: str, font: str, size: float, room: float) -> str:
    """``text`` shortened with an ellipsis until it fits in ``room`` points."""
    if stringWidth(text, font, size) <= room:
        return text
    while text and stringWidth(text + "…", font, size) > room:
        text = text[:-1]
    return text.rstrip() + "…"


def _logo(data: bytes | None) -> ImageData | None:
    if not data:
        return None
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except (OSError, ValueError, Image.DecompressionBombError):
        return None  # an SVG, or not an image: the name alone stands for the brand
    image.thumbnail((600, 600))
    return pixel_image(image.convert("RGBA"))
