"""Request and response bodies of the JSON API (they make the OpenAPI document)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any

from fastapi import Path, Query
from pydantic import BaseModel, Field

# Row ids are INTEGER columns: 32 bits on PostgreSQL (64 on SQLite). A larger id names no
# row, and the database would refuse the query itself (a 500) rather than find nothing.
MAX_ROW_ID = 2**31 - 1
# Fifty rows a page: five million rows deep is further than anyone pages.
MAX_PAGE = 100_000

UserIdPath = Annotated[int, Path(ge=1, le=MAX_ROW_ID, description="A user's id.")]
PageQuery = Annotated[int, Query(ge=1, le=MAX_PAGE, description="1 is the newest page.")]
# Generated ids (images, purchases, API keys) are 32 characters; a longer one names nothing.
IdPath = Annotated[str, Path(min_length=1, max_length=64)]


class ErrorDetail(BaseModel):
    code: str = Field(description="Machine-readable, e.g. `rate_limited`.")
    message: str = Field(description="A sentence for people.")


class ErrorOut(BaseModel):
    """Every error answer of the API."""

    error: ErrorDetail


_MEANINGS = {
    400: "The request is not acceptable.",
    401: "Not signed in, or the API key is not valid for this site.",
    402: "Not enough tokens.",
    403: "Not allowed: a cookie request without its X-CSRF-Token, or not an admin.",
    404: "Not found on this site (or not yours).",
    408: "The request body did not arrive in time; the connection is closed.",
    409: "The current state does not allow it.",
    410: "Gone for good: deleted under the site's retention rule.",
    413: "The request body is too large; the connection is closed.",
    415: "Not an accepted image type.",
    422: "The input is not valid (or the body is not valid JSON).",
    429: "Too many requests: wait for Retry-After seconds.",
    502: "The payment provider did not answer.",
    503: "The server is busy: try again after Retry-After seconds.",
}
# What any route that takes a request body can answer (see forkable.web.body_limits).
BODY = (408, 413)


def errors(*codes: int, said: Mapping[int, str] | None = None) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: each error status it answers, in the error shape.

    ``said`` replaces the general meaning of a status where the route's own is clearer.
    """
    said = said or {}
    return {
        code: {"model": ErrorOut, "description": said.get(code, _MEANINGS[code])}
        for code in sorted(codes)
    }


class Credentials(BaseModel):
    email: str = Field(max_length=320, examples=["ada@example.com"])
    password: str = Field(max_length=4096)


class UserOut(BaseModel):
    id: int
    email: str
    balance: int = Field(description="Tokens you can spend now.")
    held: int = Field(description="Tokens reserved by images being made.")
    is_admin: bool


class AuthOut(BaseModel):
    user: UserOut
    csrf_token: str


class LedgerEntryOut(BaseModel):
    id: int
    amount: int = Field(description="Change in spendable tokens.")
    kind: str
    ref: str
    balance_after: int = Field(description="Spendable tokens after this entry.")
    created_at: datetime


class ApiKeyIn(BaseModel):
    name: str = Field(default="API key", max_length=80)


class ApiKeyOut(BaseModel):
    id: str
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None


class NewApiKeyOut(ApiKeyOut):
    key: str = Field(description="Shown once; store it now.")


class PackOut(BaseModel):
    id: str
    name: str
    tokens: int
    price_cents: int
    currency: str


class SubmittedOut(BaseModel):
    id: str
    status: str
    cost: int


class GenerationOut(BaseModel):
    id: str
    status: str
    style: str | None
    cost: int
    error: str | None
    result_url: str | None
    input_url: str | None
    created_at: datetime
    finished_at: datetime | None


class GenerationPage(BaseModel):
    items: list[GenerationOut]
    next_cursor: str | None


class TokenIn(BaseModel):
    token: str = Field(max_length=256, description="The `token` of the mailed link.")


class VerifiedOut(BaseModel):
    email: str = Field(description="The address now verified (after a change: the new one).")
    changed: bool = Field(description="The link confirmed a new address, now the account's.")
    bonus_granted: int = Field(description="Tokens granted now (the sign-up bonus, once).")


class ResetRequestIn(BaseModel):
    email: str = Field(max_length=320, examples=["ada@example.com"])


class ResetConfirmIn(BaseModel):
    token: str = Field(max_length=256)
    password: str = Field(max_length=4096, description="The new password.")


class PasswordChangeIn(BaseModel):
    current_password: str = Field(max_length=4096)
    new_password: str = Field(max_length=4096)


class EmailChangeIn(BaseModel):
    password: str = Field(max_length=4096, description="The current password.")
    new_email: str = Field(max_length=320)


class AcceptedOut(BaseModel):
    message: str = Field(description="What happens next, for people.")
