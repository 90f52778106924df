"""Print-ready PDFs, read back with pypdf: exact paper sizes, images inside the margins, the
page turned to the image, resolution capped but never invented, and a book's cover."""

from __future__ import annotations

import io
from functools import lru_cache

import numpy as np
import pytest
from PIL import Image
from tests.factories import photo_bytes
from tests.support.pdf import DrawnImage, drawn_images, page_size, read

from forkable.generations import printing
from forkable.generations.printing import MARGIN_PT, PAPERS, Cover, book_pdf, result_pdf
from forkable.generations.result_png import encode_result_png
from forkable.providers.local import apply_filter

A4 = (595.28, 841.89)
LETTER = (612.0, 792.0)
TOLERANCE = 0.01  # points: numbers in the file are written to four decimals


@lru_cache(maxsize=4)
def coloring_page(size: tuple[int, int]) -> bytes:
    """A real coloring page (the built-in filter on a photo), scaled to ``size`` as line art."""
    photo = Image.open(io.BytesIO(photo_bytes("chelsea", size=640)))
    page = apply_filter("coloring_book", photo)
    return encode_result_png(page.resize(size, Image.Resampling.NEAREST))


@lru_cache(maxsize=4)
def photo_result(size: tuple[int, int]) -> bytes:
    """A full-colour result (a photo), ``size`` pixels."""
    photo = Image.open(io.BytesIO(photo_bytes("astronaut", size=512))).resize(size)
    buffer = io.BytesIO()
    photo.save(buffer, format="PNG")
    return buffer.getvalue()


def _one_page(image: bytes, paper: str) -> tuple[tuple[float, float], DrawnImage]:
    reader = read(result_pdf(image, PAPERS[paper], title="Test", author="Test site"))
    assert len(reader.pages) == 1
    page = reader.pages[0]
    (drawn,) = drawn_images(reader, page)
    return page_size(page), drawn


def _rounded(size: tuple[float, float]) -> tuple[float, float]:
    return round(size[0], 2), round(size[1], 2)


@pytest.mark.parametrize(("paper", "portrait"), [("a4", A4), ("letter", LETTER)])
def test_pages_have_the_papers_exact_size_turned_to_the_image(
    paper: str, portrait: tuple[float, float]
) -> None:
    tall, _ = _one_page(coloring_page((600, 800)), paper)
    wide, _ = _one_page(coloring_page((800, 600)), paper)
    square, _ = _one_page(coloring_page((700, 700)), paper)

    assert _rounded(tall) == portrait
    assert _rounded(wide) == (portrait[1], portrait[0])  # landscape image, landscape page
    assert _rounded(square) == portrait


@pytest.mark.parametrize("paper", ["a4", "letter"])
@pytest.mark.parametrize("size", [(4000, 3000), (3000, 4000), (1000, 1000), (320, 240), (90, 900)])
def test_the_image_fills_the_space_inside_the_margins_centred(
    paper: str, size: tuple[int, int]
) -> None:
    (width, height), drawn = _one_page(coloring_page(size), paper)

    assert drawn.x0 >= MARGIN_PT - TOLERANCE and drawn.y0 >= MARGIN_PT - TOLERANCE
    assert drawn.x1 <= width - MARGIN_PT + TOLERANCE
    assert drawn.y1 <= height - MARGIN_PT + TOLERANCE
    # As large as the margins allow: it touches them on one axis, and is centred on both.
    touches_sides = abs(drawn.x0 - MARGIN_PT) < TOLERANCE
    touches_top = abs(drawn.y0 - MARGIN_PT) < TOLERANCE
    assert touches_sides or touches_top
    assert abs(drawn.x0 - (width - drawn.x1)) < TOLERANCE
    assert abs(drawn.y0 - (height - drawn.y1)) < TOLERANCE
    # The aspect ratio is kept.
    drawn_ratio = (drawn.x1 - drawn.x0) / (drawn.y1 - drawn.y0)
    assert drawn_ratio == pytest.approx(size[0] / size[1], rel=1e-3)


def test_line_art_is_kept_losslessly_at_its_own_resolution() -> None:
    source = coloring_page((4000, 3000))  # a 12-megapixel photo's coloring page
    reader = read(result_pdf(source, PAPERS["a4"], title="Test", author="Test site"))
    (drawn,) = drawn_images(reader, reader.pages[0])

    assert drawn.pixels == (4000, 3000)  # not resampled: 410 dpi is under the 600 cap
    assert 300 <= drawn.dpi <= printing.LINE_ART_MAX_DPI
    assert drawn.filters == ("/FlateDecode",)
    (embedded,) = reader.pages[0].images
    expected = np.asarray(Image.open(io.BytesIO(source)).convert("L"))
    assert np.array_equal(np.asarray(embedded.image.convert("L")), expected)


def test_very_large_line_art_is_brought_down_to_600_dpi() -> None:
    _, drawn = _one_page(coloring_page((9000, 6000)), "letter")

    assert drawn.dpi == pytest.approx(printing.LINE_ART_MAX_DPI, rel=0.002)
    assert drawn.pixels[0] < 9000


def test_photos_are_placed_at_300_dpi_as_jpeg() -> None:
    _, drawn = _one_page(photo_result((4000, 3000)), "a4")

    assert drawn.dpi == pytest.approx(printing.PHOTO_MAX_DPI, rel=0.002)
    assert drawn.filters == ("/DCTDecode",)


def test_a_small_image_keeps_its_pixels_and_is_drawn_to_fit() -> None:
    (_, height), drawn = _one_page(photo_result((320, 240)), "a4")

    assert drawn.pixels == (320, 240)  # never upscaled
    assert drawn.dpi == pytest.approx(320 / ((height - 2 * MARGIN_PT) * 4 / 3 / 72), rel=1e-3)
    assert drawn.y1 - drawn.y0 == pytest.approx(height - 2 * MARGIN_PT, abs=TOLERANCE)


def test_transparency_prints_on_white() -> None:
    image = Image.new("RGBA", (400, 300), (0, 0, 0, 0))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    reader = read(result_pdf(buffer.getvalue(), PAPERS["a4"], title="T", author="S"))
    (embedded,) = reader.pages[0].images
    lowest = min(low for low, _ in embedded.image.convert("RGB").getextrema())
    assert lowest >= 254  # white (JPEG may be off by one), not black


def test_a_book_is_a_cover_then_one_page_per_image() -> None:
    cover = Cover(
        site_name="ColoringBook AI",
        title="Grandma's summer",
        primary_color="#ff6b6b",
        accent_color="#1a535c",
        on_primary="#111827",
    )
    images = [coloring_page((800, 600)), coloring_page((600, 800)), photo_result((320, 240))]
    out = io.BytesIO()

    pages = book_pdf(cover, iter(images), PAPERS["letter"], out)

    reader = read(out.getvalue())
    assert pages == len(reader.pages) == 4
    text = reader.pages[0].extract_text()
    assert "ColoringBook AI" in text and "Grandma's summer" in text
    assert reader.metadata is not None and reader.metadata.title == "Grandma's summer"
    assert _rounded(page_size(reader.pages[0])) == LETTER
    assert _rounded(page_size(reader.pages[1])) == (LETTER[1], LETTER[0])
    assert [len(drawn_images(reader, page)) for page in reader.pages[1:]] == [1, 1, 1]


def test_a_long_title_wraps_and_a_raster_logo_is_drawn() -> None:
    logo = io.BytesIO()
    Image.new("RGBA", (64, 64), (26, 83, 92, 255)).save(logo, format="PNG")
    title = "The very long title of a book for the whole family to colour in together"
    cover = Cover("Site", title, "#ff6b6b", "#1a535c", "#111827", logo=logo.getvalue())
    out = io.BytesIO()

    book_pdf(cover, iter([coloring_page((600, 800))]), PAPERS["a4"], out)

    reader = read(out.getvalue())
    text = reader.pages[0].extract_text()
    assert " ".join(text.split()).endswith(title)  # every word, over several lines
    assert len(drawn_images(reader, reader.pages[0])) == 1  # the logo
