"""Reading PDFs back with a real parser (pypdf): page sizes, text, and where images are drawn."""

from __future__ import annotations

import io
from dataclasses import dataclass

from pypdf import PageObject, PdfReader
from pypdf.generic import ContentStream

Matrix = tuple[float, float, float, float, float, float]
IDENTITY: Matrix = (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)


@dataclass(frozen=True)
class DrawnImage:
    """An image XObject as painted on a page: its box in points and its pixel size."""

    x0: float
    y0: float
    x1: float
    y1: float
    pixels: tuple[int, int]
    filters: tuple[str, ...]

    @property
    def dpi(self) -> float:
        return self.pixels[0] / ((self.x1 - self.x0) / 72)


def read(data: bytes) -> PdfReader:
    assert data.startswith(b"%PDF-")
    return PdfReader(io.BytesIO(data), strict=True)


def page_size(page: PageObject) -> tuple[float, float]:
    box = page.mediabox
    assert (float(box.left), float(box.bottom)) == (0.0, 0.0)
    return float(box.width), float(box.height)


def _multiply(m: Matrix, n: Matrix) -> Matrix:
    """m then n, as PDF concatenates `cm` onto the current matrix (m x n)."""
    a, b, c, d, e, f = m
    a2, b2, c2, d2, e2, f2 = n
    return (
        a * a2 + b * c2,
        a * b2 + b * d2,
        c * a2 + d * c2,
        c * b2 + d * d2,
        e * a2 + f * c2 + e2,
        e * b2 + f * d2 + f2,
    )


def drawn_images(reader: PdfReader, page: PageObject) -> list[DrawnImage]:
    """Each image painted by ``page``'s content stream, following q/Q/cm to its box."""
    resources = page["/Resources"].get_object()
    xobjects = resources.get("/XObject", {})
    xobjects = xobjects.get_object() if xobjects else {}
    stack: list[Matrix] = []
    ctm = IDENTITY
    found = []
    for operands, operator in ContentStream(page.get_contents(), reader).operations:
        if operator == b"q":
            stack.append(ctm)
        elif operator == b"Q":
            ctm = stack.pop()
        elif operator == b"cm":
            ctm = _multiply(tuple(float(v) for v in operands), ctm)  # type: ignore[arg-type]
        elif operator == b"Do":
            xobject = xobjects[operands[0]].get_object()
            if xobject["/Subtype"] != "/Image":
                continue
            a, b, c, d, e, f = ctm
            assert b == 0 and c == 0, "images are drawn upright"
            filters = xobject.get("/Filter")
            names = [filters] if isinstance(filters, str) else list(filters or [])
            found.append(
                DrawnImage(
                    x0=e,
                    y0=f,
                    x1=e + a,
                    y1=f + d,
                    pixels=(int(xobject["/Width"]), int(xobject["/Height"])),
                    filters=tuple(str(n) for n in names),
                )
            )
    return found
