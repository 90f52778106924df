"""Errors as the SPEC shapes them: JSON under /api, branded pages elsewhere."""

from __future__ import annotations

import logging
from enum import Enum
from http import HTTPStatus
from typing import NamedTuple

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse, Response

from forkable.accounts.credentials import SameEmail, WrongPassword
from forkable.accounts.emails import InvalidEmail
from forkable.accounts.links import BadLink
from forkable.accounts.passwords import PasswordsBusy, WeakPassword
from forkable.accounts.service import EmailTaken, InvalidCredentials
from forkable.accounts.throttle import Throttled
from forkable.admin.service import AdminRefusal
from forkable.generations.intake import GenerationRefusal
from forkable.generations.uploads import UploadProblem
from forkable.observability.logs import bounded, request_id_header
from forkable.payments.gateway import PaymentProviderError
from forkable.payments.service import UnknownPack
from forkable.web.middleware import security_headers
from forkable.web.templating import render

logger = logging.getLogger(__name__)

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    402: "payment_required",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "rate_limited",
    500: "internal_error",
    503: "unavailable",
}


class ApiError(HTTPException):
    """An error with a machine-readable code and a sentence for people."""

    def __init__(
        self, status_code: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(status_code=status_code, detail=message, headers=headers)
        self.code = code


class HttpAnswer(NamedTuple):
    """The status and error code HTTP answers one kind of refusal with."""

    status: int
    code: str


# A refusal's kind: a member of a domain's reason enum, or the domain's exception class where
# each refusal already has its own (sign-up, login, checkout).
RefusalKind = Enum | type[Exception]

# Every refusal the domain can give, and its answer: the one place where reasons become HTTP.
REFUSAL_ANSWERS: dict[RefusalKind, HttpAnswer] = {
    # POST /generations (`generations.intake`)
    GenerationRefusal.INVALID_IDEMPOTENCY_KEY: HttpAnswer(422, "invalid_idempotency_key"),
    GenerationRefusal.INVALID_STYLE: HttpAnswer(422, "invalid_style"),
    GenerationRefusal.INSUFFICIENT_TOKENS: HttpAnswer(402, "insufficient_tokens"),
    GenerationRefusal.TOO_FAST: HttpAnswer(429, "rate_limited"),
    GenerationRefusal.SPEND_CAP: HttpAnswer(429, "spend_cap"),
    GenerationRefusal.EMAIL_UNVERIFIED: HttpAnswer(403, "email_unverified"),
    UploadProblem.TOO_LARGE: HttpAnswer(413, "too_large"),
    UploadProblem.UNSUPPORTED_TYPE: HttpAnswer(415, "unsupported_media_type"),
    UploadProblem.INVALID_IMAGE: HttpAnswer(422, "invalid_image"),
    UploadProblem.INVALID_FORM: HttpAnswer(422, "invalid_request"),
    # Admin actions (`admin.service`)
    AdminRefusal.CONFLICT: HttpAnswer(409, "conflict"),
    AdminRefusal.NOT_FOUND: HttpAnswer(404, "not_found"),
    AdminRefusal.INVALID_INPUT: HttpAnswer(422, "invalid"),
    AdminRefusal.PAYMENT_FAILED: HttpAnswer(502, "payment_provider_error"),
    # Sign-up and login (`accounts`)
    InvalidEmail: HttpAnswer(422, "invalid_email"),
    WeakPassword: HttpAnswer(422, "weak_password"),
    EmailTaken: HttpAnswer(409, "email_taken"),
    InvalidCredentials: HttpAnswer(401, "invalid_credentials"),
    Throttled: HttpAnswer(429, "rate_limited"),
    PasswordsBusy: HttpAnswer(503, "busy"),
    # Mailed links and account changes (`accounts.links`, `accounts.credentials`)
    BadLink: HttpAnswer(400, "invalid_link"),
    WrongPassword: HttpAnswer(403, "wrong_password"),
    SameEmail: HttpAnswer(422, "same_email"),
    # Checkout (`payments`)
    UnknownPack: HttpAnswer(422, "unknown_pack"),
    PaymentProviderError: HttpAnswer(502, "payment_provider"),
}


def refused(kind: RefusalKind, message: str, retry_after: int | None = None) -> ApiError:
    """The API error for a refusal; a wait, when there is one, goes out as Retry-After."""
    answer = REFUSAL_ANSWERS[kind]
    headers = None if retry_after is None else {"Retry-After": str(retry_after)}
    return ApiError(answer.status, answer.code, message, headers)


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/") or "text/html" not in request.headers.get(
        "accept", ""
    )


def error_response(
    request: Request,
    status_code: int,
    code: str,
    message: str,
    headers: dict[str, str] | None = None,
) -> Response:
    if _wants_json(request):
        return JSONResponse(
            {"error": {"code": code, "message": message}}, status_code=status_code, headers=headers
        )
    site = getattr(request.state, "site", None)
    template = "404.html" if status_code == 404 else "error.html"
    response = render(
        request,
        template,
        site,
        {"status_code": status_code, "title": HTTPStatus(status_code).phrase, "message": message},
        status_code=status_code,
    )
    if headers:
        response.headers.update(headers)
    return response


def _unparsable_body(exc: HTTPException) -> bool:
    """FastAPI's 400 for a body it could not decode (bytes that are not UTF-8, JSON nested too
    deep, a number of thousands of digits): raised from the decoder's error, never by us."""
    return exc.status_code == 400 and exc.__cause__ is not None and not isinstance(exc, ApiError)


async def _http_error(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, HTTPException):  # pragma: no cover - registered for this type only
        raise exc
    if _unparsable_body(exc):
        # Like JSON with a syntax error (which FastAPI reports as a validation error): 422.
        return error_response(request, 422, "invalid", "The request body is not valid JSON.")
    code = exc.code if isinstance(exc, ApiError) else _CODES.get(exc.status_code, "error")
    message = str(exc.detail) if exc.detail else HTTPStatus(exc.status_code).phrase
    headers = dict(exc.headers) if exc.headers else None
    return error_response(request, exc.status_code, code, message, headers)


async def _validation_error(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, RequestValidationError):  # pragma: no cover
        raise exc
    details = "; ".join(
        f"{'.'.join(str(p) for p in err['loc'] if p != 'body')}: {err['msg']}"
        for err in exc.errors()
    )
    return error_response(request, 422, "invalid", details or "The request is not valid.")


async def _server_error(request: Request, exc: Exception) -> Response:
    path = bounded(request.url.path)  # the visitor chose its length
    logger.exception("unhandled error on %s %s", request.method, path, exc_info=exc)
    response = error_response(
        request, 500, "internal_error", "Something went wrong on our side. Please try again."
    )
    # Starlette answers unhandled errors outside every other middleware, so add the headers here.
    production = request.app.state.services.settings.is_production
    for name, value in security_headers(hsts=production):
        response.headers.setdefault(name, value)
    response.headers.update(request_id_header())
    return response


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _server_error)
