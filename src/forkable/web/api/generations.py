"""Generations: submit a photo, follow it, fetch the result, list, delete."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from starlette.responses import JSONResponse

from forkable.accounts.service import Principal
from forkable.generations import service
from forkable.generations.admission import AdmissionPolicy, SpendCapReached, TooFast
from forkable.generations.models import Generation, Status
from forkable.generations.multipart import read_image_upload
from forkable.generations.submission import submit_and_start
from forkable.generations.uploads import UploadError, ValidatedImage, validate_image
from forkable.ledger.book import InsufficientTokens
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

router = APIRouter(tags=["generations"])
logger = logging.getLogger(__name__)

_MEGABYTE = 1024 * 1024
_MAX_IDEMPOTENCY_KEY = 255
_NOT_FOUND = "No such image."


def generation_out(generation: Generation) -> GenerationOut:
    base = f"/api/v1/generations/{generation.id}"
    return GenerationOut(
        id=generation.id,
        status=generation.status,
        style=generation.style,
        cost=generation.cost,
        error=generation.error,
        result_url=f"{base}/result" if generation.status == Status.SUCCEEDED else None,
        input_url=f"{base}/input" if generation.input_key else None,
        created_at=generation.created_at,
        finished_at=generation.finished_at,
    )


def _submitted(generation: Generation) -> JSONResponse:
    body = SubmittedOut(id=generation.id, status=generation.status, cost=generation.cost)
    return JSONResponse(body.model_dump(), status_code=202)


def _not_enough(needed: int, available: int) -> ApiError:
    if available < 0:
        message = (
            f"Your balance is {available} tokens after a refunded payment. "
            "Buy tokens to settle it before making new images."
        )
    else:
        message = (
            f"This needs {needed} tokens and you have {available}. Buy more tokens to continue."
        )
    return ApiError(402, "insufficient_tokens", message)


def _validate(services: ServicesDep, data: bytes, max_bytes: int) -> ValidatedImage:
    with services.upload_slots:
        return validate_image(data, max_bytes=max_bytes)


@contextmanager
def _refusals_answered(services: ServicesDep, site: Site) -> Iterator[None]:
    """Admission's refusals, as the HTTP answers the API documents."""
    try:
        yield
    except InsufficientTokens as exc:
        raise _not_enough(exc.needed, exc.available) from None
    except TooFast as exc:
        raise ApiError(
            429,
            "rate_limited",
            f"You are making images too fast. Try again in {exc.retry_after} seconds.",
            {"Retry-After": str(exc.retry_after)},
        ) from None
    except SpendCapReached as exc:
        services.metrics.record_refusal(site.id, "spend_cap")
        raise ApiError(
            429,
            "spend_cap",
            "This site has made all the images it can today. Please come back tomorrow.",
            {"Retry-After": str(exc.retry_after)},
        ) from None


def _style(site: Site, value: str | None) -> str | None:
    if not value:
        return None
    if value not in {style.id for style in site.manifest.transform.styles}:
        raise ApiError(422, "invalid_style", f"Unknown style {value!r}.")
    return value


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
    idempotency_key = request.headers.get("idempotency-key")
    if idempotency_key is not None and not 0 < len(idempotency_key) <= _MAX_IDEMPOTENCY_KEY:
        raise ApiError(422, "invalid_idempotency_key", "Idempotency-Key must be 1-255 characters.")
    if idempotency_key:
        earlier = await run_in_threadpool(
            service.find_by_idempotency_key, services.database, principal, idempotency_key
        )
        if earlier is not None:
            return _submitted(earlier)

    policy = AdmissionPolicy.for_site(site, services.resolver.estimated_cost_usd(site))
    # Refused now rather than after reading the upload; decided for good by the submit.
    with _refusals_answered(services, site):
        await run_in_threadpool(service.precheck, services.database, policy, principal)

    max_bytes = site.manifest.transform.max_upload_mb * _MEGABYTE
    length = request.headers.get("content-length")
    try:
        upload = await read_image_upload(
            request.stream(),
            request.headers.get("content-type"),
            max_file_bytes=max_bytes,
            content_length=int(length) if length and length.isdigit() else None,
        )
        style = _style(site, upload.fields.get("style"))
        image = await run_in_threadpool(_validate, services, upload.file_bytes, max_bytes)
    except UploadError as exc:
        raise refused(exc.problem, exc.message) from None

    inline = services.settings.inline_jobs
    with _refusals_answered(services, site):
        submitted = await run_in_threadpool(
            submit_and_start,
            services.database,
            services.store,
            services.runner,
            principal,
            image=image,
            style=style,
            policy=policy,
            idempotency_key=idempotency_key,
            inline=inline,
        )
    if not submitted.created or not inline:
        return _submitted(submitted.generation)
    # Serverless: the image was made inside this request (bounded by the host's maxDuration),
    # through the same row, hold and capture/void as on the background workers.
    generation_id = submitted.generation.id
    finished = await run_in_threadpool(service.get_for, services.database, principal, generation_id)
    return _submitted(finished or submitted.generation)


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


def _owned(services: ServicesDep, principal: Principal | None, generation_id: str) -> Generation:
    # Anyone but the owner (or an admin of the site) gets 404: existence is not revealed.
    if principal is None or len(generation_id) > 64:
        raise ApiError(404, "not_found", _NOT_FOUND)
    generation = service.get_for(services.database, principal, generation_id)
    if generation is None:
        raise ApiError(404, "not_found", _NOT_FOUND)
    return generation


@router.get(
    "/generations/{generation_id}", response_model=GenerationOut, responses=errors(404, 422)
)
def get_generation(
    generation_id: IdPath, principal: LenientPrincipal, services: ServicesDep
) -> GenerationOut:
    return generation_out(_owned(services, principal, generation_id))


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
    responses={200: {"content": {"image/png": {}}}, **errors(404, 422)},
)
def get_result(
    generation_id: IdPath,
    principal: LenientPrincipal,
    services: ServicesDep,
    site: SiteDep,
    download: bool = False,
) -> Response:
    """The result image (PNG); `?download=1` asks the browser to save it."""
    generation = _owned(services, principal, generation_id)
    if generation.status != Status.SUCCEEDED:
        raise ApiError(404, "not_found", "This image is not ready.")
    filename = f"{site.id}-{generation.id[:8]}.png" if download else None
    return _media(services, generation.output_key, "image/png", filename)


@router.get(
    "/generations/{generation_id}/input",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}, "image/png": {}}}, **errors(404, 422)},
)
def get_input(
    generation_id: IdPath, principal: LenientPrincipal, services: ServicesDep
) -> Response:
    """The uploaded photo as stored: re-encoded, without metadata."""
    generation = _owned(services, principal, generation_id)
    key = generation.input_key
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
