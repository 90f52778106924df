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

Each page is drawn with ReportLab as a one-page PDF of its own, reading one image at a time,
and a book is those pages joined by qpdf (pikepdf) from scratch files, which copies each
page's streams from its file as it writes the book, so no page is held in memory for long.
(ReportLab alone holds every image of a document until it is saved, and then builds the whole
file in memory once more: a 50-page colour book held its pages twice over at the end; pypdf,
tried too, holds every page's streams and more.) The caps keep each page's streams small;
photos pass through a scratch JPEG file that is gone when their page is made.
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Iterable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

from PIL import Image
from reportlab import rl_config
from reportlab.lib.colors import HexColor
from reportlab.lib.units import mm
from reportlab.lib.utils import ImageReader, simpleSplit
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas

PaperName = Literal["a4", "letter"]

MARGIN_PT = 12 * mm
LINE_ART_MAX_DPI = 600
PHOTO_MAX_DPI = 300
JPEG_QUALITY = 90
_BAND_ROWS = 256
# Text on the cover: a PDF standard font, present in every reader, so nothing is embedded (it
# covers Western European scripts; other characters print as boxes).
_BOLD = "Helvetica-Bold"
_INK = HexColor("#111827")


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
    with tempfile.TemporaryDirectory(prefix="forkable-print-") as scratch:
        canvas = _canvas(out, paper, title=title, author=author)
        _image_page(canvas, image_data, paper, Path(scratch) / "1.jpg")
        canvas.save()
    return out.getvalue()


def book_pdf(cover: Cover, images: Iterable[bytes], paper: Paper, out: BinaryIO) -> int:
    """Write a book to ``out``: the cover, then one page per image; returns the page count.

    ``images`` is read lazily, one image at a time: pass a generator that loads each one.
    Each page waits in a scratch file; writing the book copies their streams from there.
    """
    import pikepdf  # here: qpdf and its bindings are megabytes no other request needs

    with tempfile.TemporaryDirectory(prefix="forkable-book-") as scratch, ExitStack() as files:
        cover_path = Path(scratch) / "0.pdf"
        cover_path.write_bytes(_cover_pdf(cover, paper))
        book = files.enter_context(pikepdf.open(cover_path))
        for number, image_data in enumerate(images, start=1):
            page = result_pdf(image_data, paper, title=cover.title, author=cover.site_name)
            del image_data  # not kept alive beside the next image while that one is read
            path = Path(scratch) / f"{number}.pdf"
            path.write_bytes(page)
            del page
            # qpdf copies a foreign page's streams when the book is saved, reading them from
            # the page's file then: it stays open until then.
            book.pages.extend(files.enter_context(pikepdf.open(path)).pages)
        book.save(out)
        return len(book.pages)


def _cover_pdf(cover: Cover, paper: Paper) -> bytes:
    out = io.BytesIO()
    canvas = _canvas(out, paper, title=cover.title, author=cover.site_name)
    _cover_page(canvas, cover, paper)
    canvas.save()
    return out.getvalue()


def _canvas(out: BinaryIO, paper: Paper, *, title: str, author: str) -> Canvas:
    # The library writes every stream as ASCII85 text unless this setting of its own says
    # otherwise: binary streams are a quarter smaller and were 3 to 5 times faster to write
    # (0.66 s against 0.21 s for a 12-megapixel coloring page). Nothing in forkable wants text.
    rl_config.useA85 = 0
    canvas = Canvas(out, pagesize=(paper.width, paper.height), pageCompression=1)
    canvas.setTitle(title)
    canvas.setAuthor(author)
    canvas.setCreator(author)
    return canvas


def _image_page(canvas: Canvas, image_data: bytes, paper: Paper, jpeg_path: Path) -> None:
    """A page with the image fitted on it; a photo goes through ``jpeg_path`` (unique)."""
    placement, source = _embeddable(image_data, paper, jpeg_path)
    canvas.setPageSize((placement.page_width, placement.page_height))
    canvas.drawImage(source, placement.x, placement.y, placement.width, placement.height)
    canvas.showPage()


def _embeddable(
    image_data: bytes, paper: Paper, jpeg_path: Path
) -> tuple[Placement, ImageReader | str]:
    """Where the image goes, and the image as the PDF will hold it: resampled down to its cap,
    then line art as pixels (compressed losslessly), anything else as a JPEG file.

    A photo is handed over as a file because the library then copies the JPEG as it is; from
    memory it would decode it again (to fingerprint it) and keep those pixels until the cycle
    collector ran, pages later. Each image is dropped as soon as its smaller copy exists.
    """
    image: Image.Image = Image.open(io.BytesIO(image_data))
    image.load()
    placement = place(image.size, paper)
    line_art = is_line_art(image)
    cap = LINE_ART_MAX_DPI if line_art else PHOTO_MAX_DPI
    image = _flatten(image)
    if placement.dpi > cap:
        scale = cap / placement.dpi
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        image = _resized(image, size)
    if line_art:
        # Grey, not 1-bit: the PDF library writes 8 bits a pixel whatever it gets (a 1-bit
        # image would become RGB); long runs of white compress to almost nothing either way.
        return placement, ImageReader(image)
    # Into a real file Pillow encodes without holding the GIL (see forkable.image_bytes).
    image.save(jpeg_path, format="JPEG", quality=JPEG_QUALITY, subsampling=0)
    return placement, str(jpeg_path)


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


def _cover_page(canvas: Canvas, cover: Cover, paper: Paper) -> None:
    """The brand band with the site's name (and raster logo) on top, the title below it."""
    width, height = paper.width, paper.height
    band = height * 0.22
    canvas.setPageSize((width, height))
    canvas.setFillColor(HexColor(cover.primary_color))
    canvas.rect(0, height - band, width, band, stroke=0, fill=1)
    canvas.setFillColor(HexColor(cover.accent_color))
    canvas.rect(0, 0, width, MARGIN_PT, stroke=0, fill=1)

    text_x = MARGIN_PT * 2
    logo = _logo(cover.logo)
    if logo is not None:
        side = band * 0.5
        canvas.drawImage(logo, text_x, height - band / 2 - side / 2, side, side, mask="auto")
        text_x += side + MARGIN_PT
    canvas.setFillColor(HexColor(cover.on_primary))
    name_size = 28.0
    name = _fit_line(cover.site_name, _BOLD, name_size, width - text_x - MARGIN_PT * 2)
    canvas.setFont(_BOLD, name_size)
    canvas.drawString(text_x, height - band / 2 - name_size / 3, name)

    canvas.setFillColor(_INK)
    size = 40.0
    lines = simpleSplit(cover.title, _BOLD, size, width - MARGIN_PT * 4)
    while len(lines) > 3 and size > 20:
        size -= 4
        lines = simpleSplit(cover.title, _BOLD, size, width - MARGIN_PT * 4)
    canvas.setFont(_BOLD, size)
    top = height * 0.55 + len(lines) * size * 0.6
    for index, line in enumerate(lines):
        canvas.drawCentredString(width / 2, top - index * size * 1.2, line)
    canvas.showPage()


def _fit_line(text: str, font: str, size: float, room: float) -> str:
    """``text`` shortened with an ellipsis until it fits in ``room`` points."""
    if stringWidth(text, font, size) <= room:
        return text
    while text and stringWidth(text + "…", font, size) > room:
        text = text[:-1]
    return text.rstrip() + "…"


def _logo(data: bytes | None) -> ImageReader | None:
    if not data:
        return None
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except (OSError, ValueError, Image.DecompressionBombError):
        return None  # an SVG, or not an image: the name alone stands for the brand
    image.thumbnail((600, 600))
    return ImageReader(image.convert("RGBA"))
