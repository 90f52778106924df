"""Taking in one generation request: the admission policy from the Idempotency-Key to the result.

`submit_generation` is the one entry point. It answers with the accepted generation or with a
`Refusal` that says why not; the web edge turns refusals into HTTP (`forkable.web.errors`).
The upload is read in the middle (after the cheap checks, before the submit), through a reader
the edge passes in, so a submit that will be refused is refused before its upload is read.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Protocol, TypeVar

import anyio.to_thread

from forkable.accounts import verification
from forkable.accounts.service import Principal
from forkable.db import Database
from forkable.generations import service
from forkable.generations.admission import AdmissionPolicy, SpendCapReached, TooFast
from forkable.generations.announce import Announcer
from forkable.generations.models import Generation
from forkable.generations.runner import JobRunner
from forkable.generations.submission import submit_and_start
from forkable.generations.uploads import UploadError, UploadProblem, ValidatedImage, validate_image
from forkable.ledger.book import InsufficientTokens
from forkable.providers.resolver import ProviderResolver
from forkable.sites import Site
from forkable.storage import MediaStore

MEGABYTE = 1024 * 1024
MAX_IDEMPOTENCY_KEY = 255

T = TypeVar("T")


class GenerationRefusal(Enum):
    """Why a generation request was refused (upload problems are `UploadProblem`)."""

    INVALID_IDEMPOTENCY_KEY = "invalid_idempotency_key"
    INVALID_STYLE = "invalid_style"
    INSUFFICIENT_TOKENS = "insufficient_tokens"
    TOO_FAST = "too_fast"
    SPEND_CAP = "spend_cap"
    EMAIL_UNVERIFIED = "email_unverified"


@dataclass(frozen=True)
class Refusal:
    """A request refused: why, a sentence for the visitor, and how long to wait, if it helps."""

    kind: GenerationRefusal | UploadProblem
    message: str
    retry_after: int | None = None


class UploadForm(Protocol):
    """The uploaded form, as the edge's parser read it."""

    @property
    def file_bytes(self) -> bytes: ...

    @property
    def fields(self) -> Mapping[str, str]: ...


# Reads the request's upload, refusing a file over the byte limit it is given (`UploadError`).
ReadUpload = Callable[[int], Awaitable[UploadForm]]


class RefusalCounter(Protocol):
    def record_refusal(self, site: str, reason: str) -> None: ...


@dataclass(frozen=True)
class Intake:
    """What taking in a generation needs from the running server."""

    database: Database
    store: MediaStore
    runner: JobRunner
    announcer: Announcer
    resolver: ProviderResolver
    refusals: RefusalCounter
    upload_slots: threading.BoundedSemaphore
    inline: bool  # serverless: the image is made inside the request


async def submit_generation(
    intake: Intake,
    principal: Principal,
    site: Site,
    *,
    idempotency_key: str | None,
    read_upload: ReadUpload,
) -> Generation | Refusal:
    """Admit, read, validate and submit one image: the generation accepted, or why not."""
    if idempotency_key is not None and not 0 < len(idempotency_key) <= MAX_IDEMPOTENCY_KEY:
        return Refusal(
            GenerationRefusal.INVALID_IDEMPOTENCY_KEY, "Idempotency-Key must be 1-255 characters."
        )
    if idempotency_key:
        earlier = await _in_thread(
            service.find_by_idempotency_key, intake.database, principal, idempotency_key
        )
        if earlier is not None:
            return earlier

    # `[accounts] verify_email = "required"`: no images until the address is verified.
    if verification.mode(site) == "required" and not await _in_thread(
        verification.is_verified, intake.database, principal.user_id
    ):
        return Refusal(
            GenerationRefusal.EMAIL_UNVERIFIED,
            "Confirm your e-mail address first: open the link we mailed you "
            "(or send it again from the app page).",
        )

    policy = AdmissionPolicy.for_site(site, intake.resolver.estimated_cost_usd(site))
    # Refused now rather than after reading the upload; decided for good by the submit.
    try:
        await _in_thread(service.precheck, intake.database, policy, principal)
    except (InsufficientTokens, TooFast, SpendCapReached) as exc:
        return _refusal(intake, site, exc)

    max_bytes = site.manifest.transform.max_upload_mb * MEGABYTE
    try:
        upload = await read_upload(max_bytes)
        style = upload.fields.get("style") or None
        if style is not None and style not in {s.id for s in site.manifest.transform.styles}:
            return Refusal(GenerationRefusal.INVALID_STYLE, f"Unknown style {style!r}.")
        image = await _in_thread(_validate, intake, upload.file_bytes, max_bytes)
    except UploadError as exc:
        return Refusal(exc.problem, exc.message)

    try:
        submitted = await _in_thread(
            submit_and_start,
            intake.database,
            intake.store,
            intake.runner,
            intake.announcer,
            principal,
            image=image,
            style=style,
            policy=policy,
            idempotency_key=idempotency_key,
            inline=intake.inline,
        )
    except (InsufficientTokens, TooFast, SpendCapReached) as exc:
        return _refusal(intake, site, exc)
    if not submitted.created or not intake.inline:
        return submitted.generation
    # Serverless: the image was made inside this request (bounded by the host's maxDuration),
    # through the same row, hold and capture/void as on the background workers.
    generation_id = submitted.generation.id
    finished = await _in_thread(service.get_for, intake.database, principal, generation_id)
    return finished or submitted.generation


async def _in_thread(function: Callable[..., T], *args: object, **kwargs: object) -> T:
    """Run blocking work (the database, image decoding) off the event loop."""
    return await anyio.to_thread.run_sync(functools.partial(function, *args, **kwargs))


def _validate(intake: Intake, data: bytes, max_bytes: int) -> ValidatedImage:
    with intake.upload_slots:
        return validate_image(data, max_bytes=max_bytes)


def _refusal(
    intake: Intake, site: Site, exc: InsufficientTokens | TooFast | SpendCapReached
) -> Refusal:
    """Admission's refusal, in the words the API documents."""
    if isinstance(exc, InsufficientTokens):
        return Refusal(
            GenerationRefusal.INSUFFICIENT_TOKENS, _not_enough(exc.needed, exc.available)
        )
    if isinstance(exc, TooFast):
        return Refusal(
            GenerationRefusal.TOO_FAST,
            f"You are making images too fast. Try again in {exc.retry_after} seconds.",
            exc.retry_after,
        )
    intake.refusals.record_refusal(site.id, "spend_cap")  # the cap's log line is admission's
    return Refusal(
        GenerationRefusal.SPEND_CAP,
        "This site has made all the images it can today. Please come back tomorrow.",
        exc.retry_after,
    )


def _not_enough(needed: int, available: int) -> str:
    if available < 0:
        return (
            f"Your balance is {available} tokens after a refunded payment. "
            "Buy tokens to settle it before making new images."
        )
    return f"This needs {needed} tokens and you have {available}. Buy more tokens to continue."
