"""The PDF file writer: numbers and strings as PDF writes them, and a file a parser accepts."""

from __future__ import annotations

import io

from PIL import Image
from tests.support.pdf import page_size, read

from forkable.generations.pdf_file import PdfFile, literal, number, pixel_image


def test_numbers_have_at_most_four_decimals_and_no_trailing_zeros() -> None:
    assert [number(v) for v in (0, 10, 595.2755905, 0.5, -0.00001, 1e-7, 12345678.9)] == [
        "0",
        "10",
        "595.2756",
        "0.5",
        "0",
        "0",
        "12345678.9",
    ]


def test_literal_strings_escape_their_delimiters_and_use_windows_1252() -> None:
    assert literal("a (b) \\ c") == "(a \\(b\\) \\\\ c)"
    assert literal("é…").encode("latin-1") == b"(\xe9\x85)"


def test_a_file_of_pages_and_images_reads_back_exactly() -> None:
    out = io.BytesIO()
    pdf = PdfFile(out, title="Grüße (1)", author="Site")
    image = Image.new("RGBA", (3, 2), (10, 20, 30, 128))
    number_of_image = pdf.add_image(pixel_image(image))
    pdf.add_page((100, 200.5), ["q 3 0 0 2 10 10 cm /Im0 Do Q"], images={"Im0": number_of_image})
    pdf.add_page((300, 100), [])
    pdf.close()

    reader = read(out.getvalue())  # strict: every offset in the table is checked

    assert [page_size(page) for page in reader.pages] == [(100.0, 200.5), (300.0, 100.0)]
    assert reader.metadata is not None and reader.metadata.title == "Grüße (1)"
    (embedded,) = reader.pages[0].images
    assert embedded.image.convert("RGB").getpixel((0, 0)) == (10, 20, 30)
    xobject = reader.pages[0]["/Resources"]["/XObject"]["/Im0"].get_object()
    assert "/SMask" in xobject  # the alpha channel, as a soft mask
