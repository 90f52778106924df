"""A PDF written to a file object by object, so a book's pages never pile up in memory.

A PDF is a header, numbered objects, a table of the byte offset where each object starts and a
trailer naming the catalog (ISO 32000-1, section 7.5). Nothing in that order asks for an object
to be known before it is written, except the page tree every page points to: its number is
reserved first and the tree itself, a few bytes a page, is written at the end. So each page's
image, content and dictionary go to the file as soon as the page is added, and writing a
50-page book holds one page at a time. (reportlab, used before, keeps every image until the
document is saved and then builds the whole file in memory once more: a 50-page colour book
held its 42 MB twice over at the end.)
"""

from __future__ import annotations

import datetime as dt
import secrets
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import BinaryIO

from PIL import Image

_HEADER = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"  # the binary comment marks the file as binary
_CATALOG, _PAGES, _INFO = 1, 2, 3
# Rows compressed at a time when an image's pixels are written losslessly: its raw bytes are
# never all in memory at once (12 MB for a 12-megapixel grey page).
_BAND_ROWS = 256
_SYMBOLIC = frozenset({"Symbol", "ZapfDingbats"})


@dataclass(frozen=True)
class ImageData:
    """An image XObject: its pixel size, colour space, filter and encoded bytes."""

    width: int
    height: int
    color_space: str  # "DeviceRGB" or "DeviceGray"
    filter: str  # "DCTDecode" (a JPEG file) or "FlateDecode" (zlib-compressed pixels)
    data: bytes
    soft_mask: ImageData | None = None  # an alpha channel, as a grey image


def jpeg_image(data: bytes, size: tuple[int, int], mode: str) -> ImageData:
    """A JPEG file as it is (PDF readers decode JPEG themselves); ``mode`` "RGB" or "L"."""
    space = "DeviceGray" if mode == "L" else "DeviceRGB"
    return ImageData(size[0], size[1], space, "DCTDecode", data)


def pixel_image(image: Image.Image) -> ImageData:
    """An "L", "RGB" or "RGBA" image's pixels, compressed losslessly; alpha as a soft mask."""
    mask = None
    if image.mode == "RGBA":
        mask = pixel_image(image.getchannel("A"))
        image = image.convert("RGB")
    if image.mode not in ("L", "RGB"):
        raise ValueError(f"no PDF colour space for mode {image.mode}")
    compressor = zlib.compressobj()
    chunks = []
    for top in range(0, image.height, _BAND_ROWS):
        band = image.crop((0, top, image.width, min(image.height, top + _BAND_ROWS)))
        chunks.append(compressor.compress(band.tobytes()))
    chunks.append(compressor.flush())
    space = "DeviceGray" if image.mode == "L" else "DeviceRGB"
    return ImageData(image.width, image.height, space, "FlateDecode", b"".join(chunks), mask)


def number(value: float) -> str:
    """A number as PDF writes it: up to four decimals, no exponent, no trailing zeros."""
    text = f"{value:.4f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def in_win_ansi(character: str) -> bool:
    """True when a standard text font has a glyph for ``character`` (Windows-1252)."""
    try:
        character.encode("cp1252")
    except UnicodeEncodeError:
        return False
    return True


def literal(text: str) -> str:
    """A literal string of ``text`` in Windows-1252 (WinAnsiEncoding), how content is encoded.

    Its bytes are returned as Latin-1 characters; characters outside it become "?".
    """
    encoded = text.encode("cp1252", errors="replace").decode("latin-1")
    escaped = encoded.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    return f"({escaped})"


def _text_string(text: str) -> bytes:
    """A text string for the document's information (title, author): UTF-16 with its mark."""
    return b"<" + ("\ufeff" + text).encode("utf-16-be").hex().encode() + b">"


class PdfFile:
    """Writes a PDF to ``out`` as it is made: fonts and images, then pages, then `close()`."""

    def __init__(self, out: BinaryIO, *, title: str, author: str) -> None:
        self._out = out
        self._written = 0  # bytes so far: `out` need not be seekable
        self._offsets: dict[int, int] = {}
        self._next = _INFO + 1
        self._pages: list[int] = []
        self._write(_HEADER)
        self._object(_CATALOG, b"<< /Type /Catalog /Pages %d 0 R >>" % _PAGES)
        created = dt.datetime.now(dt.UTC).strftime("D:%Y%m%d%H%M%SZ").encode()
        self._object(
            _INFO,
            b"<< /Title %s /Author %s /Creator %s /CreationDate (%s) >>"
            % (_text_string(title), _text_string(author), _text_string(author), created),
        )

    @property
    def page_count(self) -> int:
        return len(self._pages)

    def add_font(self, base_font: str) -> int:
        """One of the standard fonts (present in every reader, nothing embedded)."""
        # Symbol and ZapfDingbats have their own encodings; the text fonts are given WinAnsi.
        encoding = b"" if base_font in _SYMBOLIC else b" /Encoding /WinAnsiEncoding"
        return self._new_object(
            b"<< /Type /Font /Subtype /Type1 /BaseFont /%s%s >>" % (base_font.encode(), encoding)
        )

    def add_image(self, image: ImageData) -> int:
        """Write an image XObject now; its number, for the pages that draw it."""
        mask = b""
        if image.soft_mask is not None:
            mask = b" /SMask %d 0 R" % self.add_image(image.soft_mask)
        head = b"<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /%s " % (
            image.width,
            image.height,
            image.color_space.encode(),
        ) + b"/BitsPerComponent 8 /Filter /%s%s" % (image.filter.encode(), mask)
        return self._stream(head, image.data)

    def add_page(
        self,
        size: tuple[float, float],
        content: Iterable[str],
        *,
        images: Mapping[str, int] | None = None,
        fonts: Mapping[str, int] | None = None,
    ) -> None:
        """A page of ``size`` points whose content stream is these operator lines."""
        resources = b""
        if images:
            resources += b" /XObject << %s >>" % _names(images)
        if fonts:
            resources += b" /Font << %s >>" % _names(fonts)
        code = "\n".join(content).encode("latin-1")
        contents = self._stream(b"<< /Filter /FlateDecode", zlib.compress(code))
        width, height = number(size[0]).encode(), number(size[1]).encode()
        self._pages.append(
            self._new_object(
                b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 %s %s] /Resources <<%s >> "
                b"/Contents %d 0 R >>" % (_PAGES, width, height, resources, contents)
            )
        )

    def close(self) -> None:
        """Write the page tree, the offset table and the trailer."""
        kids = b" ".join(b"%d 0 R" % page for page in self._pages)
        self._object(_PAGES, b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, len(self._pages)))
        table = self._written
        count = self._next
        lines = [b"xref\n0 %d\n0000000000 65535 f \n" % count]
        lines.extend(b"%010d 00000 n \n" % self._offsets[n] for n in range(1, count))
        identifier = secrets.token_hex(16).encode()
        lines.append(
            b"trailer\n<< /Size %d /Root %d 0 R /Info %d 0 R /ID [<%s> <%s>] >>\n"
            % (count, _CATALOG, _INFO, identifier, identifier)
        )
        lines.append(b"startxref\n%d\n%%%%EOF\n" % table)
        self._write(b"".join(lines))

    def _new_object(self, body: bytes) -> int:
        number = self._reserve()
        self._object(number, body)
        return number

    def _stream(self, head: bytes, data: bytes) -> int:
        """A stream object; ``head`` is its dictionary without the length and closing >>."""
        number = self._reserve()
        self._offsets[number] = self._written
        self._write(b"%d 0 obj\n%s /Length %d >>\nstream\n" % (number, head, len(data)))
        self._write(data)
        self._write(b"\nendstream\nendobj\n")
        return number

    def _reserve(self) -> int:
        number, self._next = self._next, self._next + 1
        return number

    def _object(self, number: int, body: bytes) -> None:
        self._offsets[number] = self._written
        self._write(b"%d 0 obj\n%s\nendobj\n" % (number, body))

    def _write(self, data: bytes) -> None:
        self._out.write(data)
        self._written += len(data)


def _names(objects: Mapping[str, int]) -> bytes:
    return b" ".join(b"/%s %d 0 R" % (name.encode(), n) for name, n in objects.items())
