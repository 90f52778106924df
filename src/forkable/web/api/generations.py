"""Generations: submit a photo, follow it, fetch the result, list, delete."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from starlette.responses import JSONResponse

from forkable.accounts.service import Principal
from forkable.generations import printing, service
from forkable.generations.intake import Intake, Refusal, submit_generation
from forkable.generations.models import Generation, Status
from forkable.services import Services
from forkable.sites import Site
from forkable.storage import MissingMedia
from forkable.web.api.schemas import (
    BODY,
    GenerationOut,
    GenerationPage,
    IdPath,
    SubmittedOut,
    errors,
)
from forkable.web.auth import CurrentUser, LenientPrincipal
from forkable.web.deps import ServicesDep, SiteDep
from forkable.web.errors import ApiError, refused
from forkable.web.multipart import ParsedUpload, read_image_upload

router = APIRouter(tags=["generations"])

PaperQuery = Annotated[
    printing.PaperName, Query(description="`a4` (210 x 297 mm) or `letter` (8.5 x 11 in).")
]

_NOT_FOUND = "No such image."


def generation_out(generation: Generation) -> GenerationOut:
    base = f"/api/v1/generations/{generation.id}"
    return GenerationOut(
        id=generation.id,
        status=generation.status,
        style=generation.style,
        cost=generation.cost,
        error=generation.error,
        # Null once the result has expired under the site's [retention] rule; the result
        # route then answers 410 Gone for links kept from before.
        result_url=f"{base}/result" if _has_result(generation) else None,
        input_url=f"{base}/input" if generation.input_key else None,
        created_at=generation.created_at,
        finished_at=generation.finished_at,
    )


def _has_result(generation: Generation) -> bool:
    return generation.status == Status.SUCCEEDED and generation.output_key is not None


def _expired(what: str, since: str, days: int) -> ApiError:
    """410 for media the site's retention rule deleted (the row outlives its files)."""
    # The rule may have changed since (even to 0, keep forever): then no number is named.
    when = f" {days} day{'s' if days != 1 else ''} after {since}" if days > 0 else ""
    message = f"This {what} was deleted{when}, as this site's retention rule says."
    return ApiError(410, "gone", message)


def result_expired(site: Site) -> ApiError:
    """The 410 of a result the site's retention rule deleted."""
    return _expired("image", "it was made", site.manifest.retention.result_days)


# The photo is read from the stream by our own parser, so the form is described here.
_UPLOAD_FORM = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["image"],
                    "properties": {
                        "image": {"type": "string", "format": "binary"},
                        "style": {"type": "string", "description": "One of the site's styles."},
                    },
                }
            }
        },
    }
}


@router.post(
    "/generations",
    status_code=202,
    response_model=SubmittedOut,
    responses=errors(
        401,
        402,
        403,
        *BODY,
        415,
        422,
        429,
        said={
            413: "The photo is larger than the site's limit; the connection is closed.",
            422: "Not a readable or safe image, an unknown style, or a bad Idempotency-Key.",
            429: "Too many images this minute, or the site's daily spend cap is reached.",
        },
    ),
    openapi_extra=_UPLOAD_FORM,
)
async def create_generation(
    request: Request, principal: CurrentUser, services: ServicesDep, site: SiteDep
) -> JSONResponse:
    """Upload a photo (multipart field `image`, optional `style`) to transform."""

    async def read_upload(max_bytes: int) -> ParsedUpload:
        length = request.headers.get("content-length")
        return await read_image_upload(
            request.stream(),
            request.headers.get("content-type"),
            max_file_bytes=max_bytes,
            content_length=int(length) if length and length.isdigit() else None,
        )

    outcome = await submit_generation(
        _intake(services),
        principal,
        site,
        idempotency_key=request.headers.get("idempotency-key"),
        read_upload=read_upload,
    )
    if isinstance(outcome, Refusal):
        raise refused(outcome.kind, outcome.message, outcome.retry_after)
    body = SubmittedOut(id=outcome.id, status=outcome.status, cost=outcome.cost)
    return JSONResponse(body.model_dump(), status_code=202)


def _intake(services: ServicesDep) -> Intake:
    return Intake(
        database=services.database,
        store=services.store,
        runner=services.runner,
        announcer=services.announcer,
        resolver=services.resolver,
        refusals=services.metrics,
        upload_slots=services.upload_slots,
        inline=services.settings.inline_jobs,
    )


@router.get("/generations", response_model=GenerationPage, responses=errors(401, 422))
def list_generations(
    principal: CurrentUser,
    services: ServicesDep,
    limit: int = Query(default=20, ge=1, le=100),
    cursor: str | None = Query(default=None, max_length=200),
) -> GenerationPage:
    """Your images, newest first; pass `next_cursor` back as `cursor` for the next page."""
    try:
        page = service.list_for(services.database, principal, limit=limit, cursor=cursor)
    except ValueError:
        raise ApiError(422, "invalid_cursor", "This cursor is not valid.") from None
    return GenerationPage(
        items=[generation_out(g) for g in page.items], next_cursor=page.next_cursor
    )


def owned(services: Services, principal: Principal | None, generation_id: str) -> Generation:
    """The generation if ``principal`` may see it; 404 for anyone else (existence is hidden)."""
    # Anyone but the owner (or an admin of the site) gets 404: existence is not revealed.
    if principal is None or len(generation_id) > 64:
        raise ApiError(404, "not_found", _NOT_FOUND)
    generation = service.get_for(services.database, principal, generation_id)
    if generation is None:
        raise ApiError(404, "not_found", _NOT_FOUND)
    return generation


def _media(
    services: ServicesDep, key: str | None, media_type: str, filename: str | None
) -> Response:
    if key is None:
        raise ApiError(404, "not_found", _NOT_FOUND)
    try:
        data = services.store.get(key)
    except MissingMedia:
        raise ApiError(404, "not_found", _NOT_FOUND) from None
    headers = {"cache-control": "private, max-age=3600"}
    if filename:
        headers["content-disposition"] = f'attachment; filename="{filename}"'
    return Response(data, media_type=media_type, headers=headers)


@router.get(
    "/generations/{generation_id}/result",
    response_class=Response,
    responses={
        200: {"content": {"image/png": {}}},
        **errors(404, 410, 422, said={410: "The result was deleted by the site's retention rule."}),
    },
)
def get_result(
    generation_id: IdPath,
    principal: LenientPrincipal,
    services: ServicesDep,
    site: SiteDep,
    download: bool = False,
) -> Response:
    """The result image (PNG); `?download=1` asks the browser to save it."""
    generation = owned(services, principal, generation_id)
    if generation.status != Status.SUCCEEDED:
        raise ApiError(404, "not_found", "This image is not ready.")
    if generation.output_key is None:
        raise _expired("image", "it was made", site.manifest.retention.result_days)
    filename = f"{site.id}-{generation.id[:8]}.png" if download else None
    return _media(services, generation.output_key, "image/png", filename)


@router.get(
    "/generations/{generation_id}/result.pdf",
    response_class=Response,
    responses={
        200: {
            "content": {"application/pdf": {}},
            "description": "One page of the paper's exact size, landscape for a landscape image, "
            "the image fitted within 12 mm margins (a download).",
        },
        **errors(
            404,
            410,
            422,
            said={
                404: "Not found on this site, not yours, or not ready yet (as for `result`).",
                410: "The result was deleted by the site's retention rule.",
                422: "`paper` is neither `a4` nor `letter`.",
            },
        ),
    },
)
def get_result_pdf(
    generation_id: IdPath,
    principal: LenientPrincipal,
    services: ServicesDep,
    site: SiteDep,
    paper: PaperQuery = "a4",
) -> Response:
    """The result as a print-ready one-page PDF on A4 (the default) or US Letter."""
    generation = owned(services, principal, generation_id)
    data = result_image(services, site, generation)
    name = site.manifest.site.name
    with services.print_slots:  # a few at a time, like uploads: each decodes a whole image
        pdf = printing.result_pdf(data, printing.PAPERS[paper], title=name, author=name)
    filename = f"{site.id}-{generation.id[:8]}-{paper}.pdf"
    headers = {
        "cache-control": "private, max-age=3600",
        "content-disposition": f'attachment; filename="{filename}"',
    }
    return Response(pdf, media_type="application/pdf", headers=headers)


def result_image(services: Services, site: Site, generation: Generation) -> bytes:
    """The stored result image's bytes; 404 while it is not ready, 410 once it has expired."""
    if generation.status != Status.SUCCEEDED:
        raise ApiError(404, "not_found", "This image is not ready.")
    if generation.output_key is None:
        raise result_expired(site)
    try:
        return services.store.get(generation.output_key)
    except MissingMedia:
        raise ApiError(404, "not_found", _NOT_FOUND) from None


@router.get(
    "/generations/{generation_id}/input",
    response_class=Response,
    responses={
        200: {"content": {"image/jpeg": {}, "image/png": {}}},
        **errors(404, 410, 422, said={410: "The photo was deleted by the site's retention rule."}),
    },
)
def get_input(
    generation_id: IdPath, principal: LenientPrincipal, services: ServicesDep, site: SiteDep
) -> Response:
    """The uploaded photo as stored: re-encoded, without metadata."""
    generation = owned(services, principal, generation_id)
    key = generation.input_key
    if key is None and generation.finished_at is not None:
        raise _expired("photo", "its image was made", site.manifest.retention.photo_days)
    media_type = "image/png" if key and key.endswith(".png") else "image/jpeg"
    return _media(services, key, media_type, None)


@router.delete(
    "/generations/{generation_id}",
    status_code=204,
    responses=errors(
        401,
        403,
        404,
        409,
        422,
        said={
            403: "Only its owner deletes an image (a site admin may look, not delete).",
            409: "The image is still being made.",
        },
    ),
)
def delete_generation(
    generation_id: IdPath, principal: CurrentUser, services: ServicesDep
) -> Response:
    """Delete the image: its photo and result files are removed."""
    try:
        deleted = service.delete_for(services.database, services.store, principal, generation_id)
    except service.Conflict as exc:
        raise ApiError(409, "conflict", str(exc)) from None
    except service.NotOwner as exc:
        raise ApiError(403, "forbidden", str(exc)) from None
    if not deleted:
        raise ApiError(404, "not_found", _NOT_FOUND)
    return Response(status_code=204)
