"""Coloring books: several of your results in one printable PDF, behind a cover page.

The book is made inside the request. It stays bounded: the images are read from the media
store one at a time as the pages are composed (forkable.generations.printing caps what each
embedded image costs), and the finished PDF goes to a temporary file that is streamed out, so
the process holds one decoded image and the compressed pages (twice over while the PDF library
writes them out), never the response on top.
"""

from __future__ import annotations

import re
import tempfile
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Annotated

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator
from starlette.responses import StreamingResponse

from forkable.accounts.service import Principal
from forkable.generations import printing, service
from forkable.generations.models import Generation, Status
from forkable.sites import Site
from forkable.web.api.generations import result_expired, result_image
from forkable.web.api.schemas import BODY, errors
from forkable.web.auth import CurrentUser
from forkable.web.brand import hex_color, on_color
from forkable.web.deps import ServicesDep, SiteDep
from forkable.web.errors import ApiError

router = APIRouter(tags=["generations"])

MAX_PAGES = 50
_CHUNK = 256 * 1024
_RASTER_LOGOS = (".png", ".webp", ".jpg", ".jpeg")

GenerationId = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class BookIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)]
    paper: printing.PaperName = Field(default="a4", description="`a4` or `letter`.")
    generation_ids: list[GenerationId] = Field(
        min_length=1,
        max_length=MAX_PAGES,
        description=f"1 to {MAX_PAGES} of your succeeded images, one page each, in this order.",
    )

    @field_validator("title")
    @classmethod
    def _printable(cls, title: str) -> str:
        if any(unicodedata.category(ch).startswith("C") for ch in title):
            raise ValueError("the title must be plain text, without control characters")
        return title


@router.post(
    "/books",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {"application/pdf": {}},
            "description": "The book as a download: a cover page with the site's brand and the "
            "title, then one page per image, each fitted like `result.pdf`.",
        },
        **errors(
            401,
            403,
            404,
            409,
            410,
            *BODY,
            422,
            said={
                404: "One of the images is not on this site or not yours (its id is named).",
                409: "One of the images has no result: it is still being made, or it failed.",
                410: "One of the images' results was deleted by the site's retention rule.",
                422: "No title or one over 80 characters, `paper` neither `a4` nor `letter`, "
                f"or not 1 to {MAX_PAGES} image ids.",
            },
        ),
    },
)
def make_book(
    body: BookIn, principal: CurrentUser, services: ServicesDep, site: SiteDep
) -> StreamingResponse:
    """Make a coloring book of your results: one PDF, a cover, then one image per page."""
    generations = [_printable(services, principal, site, i) for i in body.generation_ids]
    cover = _cover(site, body.title)

    def images() -> Iterator[bytes]:
        for generation in generations:  # one image in memory at a time
            yield result_image(services, site, generation)

    out = tempfile.TemporaryFile()
    try:
        # Two books (or single pages) at a time per process, others wait: so one book's memory
        # bound, measured in tests/integration/api/test_book_memory.py, holds for each.
        with services.print_slots:
            printing.book_pdf(cover, images(), printing.PAPERS[body.paper], out)
        size = out.tell()
        out.seek(0)
    except BaseException:
        out.close()
        raise
    headers = {
        "content-length": str(size),
        "content-disposition": f'attachment; filename="{slug(body.title)}.pdf"',
        "cache-control": "private, no-store",
    }
    return StreamingResponse(_stream(out), media_type="application/pdf", headers=headers)


def _printable(
    services: ServicesDep, principal: Principal, site: Site, generation_id: str
) -> Generation:
    """The generation if it is the caller's and has a result to print; else the error."""
    generation = service.get_for(services.database, principal, generation_id)
    if generation is None:
        raise ApiError(404, "not_found", f"No such image: {generation_id}.")
    if generation.status in (Status.QUEUED, Status.RUNNING):
        raise ApiError(409, "not_ready", f"Image {generation_id} is still being made.")
    if generation.status != Status.SUCCEEDED:
        raise ApiError(409, "no_result", f"Image {generation_id} failed: it has no result.")
    if generation.output_key is None:
        expired = result_expired(site)
        raise ApiError(410, expired.code, f"Image {generation_id}: {expired.detail}")
    return generation


def _stream(file: IO[bytes]) -> Iterator[bytes]:
    try:
        while chunk := file.read(_CHUNK):
            yield chunk
    finally:
        file.close()


def _cover(site: Site, title: str) -> printing.Cover:
    brand = site.manifest.brand
    return printing.Cover(
        site_name=site.manifest.site.name,
        title=title,
        primary_color=hex_color(brand.primary_color),
        accent_color=hex_color(brand.accent_color),
        on_primary=on_color(brand.primary_color),
        logo=_raster_logo(site),
    )


def _raster_logo(site: Site) -> bytes | None:
    """The site's logo when it is a raster image; an SVG would need a renderer of its own."""
    logo = site.manifest.brand.logo
    if logo is None or Path(logo).suffix.lower() not in _RASTER_LOGOS:
        return None
    path = site.assets_folder / site.asset_path(logo)
    try:
        return path.read_bytes()
    except OSError:
        return None


def slug(title: str) -> str:
    """A file name for ``title``: ASCII letters and digits joined by hyphens."""
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    words = re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")
    return words[:60].strip("-") or "coloring-book"
