"""Request and response bodies of the JSON API (they make the OpenAPI document)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Path, Query
from pydantic import BaseModel, Field

# Row ids are INTEGER columns: 32 bits on PostgreSQL (64 on SQLite). A larger id names no
# row, and the database would refuse the query itself (a 500) rather than find nothing.
MAX_ROW_ID = 2**31 - 1
# Fifty rows a page: five million rows deep is further than anyone pages.
MAX_PAGE = 100_000

UserIdPath = Annotated[int, Path(ge=1, le=MAX_ROW_ID, description="A user's id.")]
PageQuery = Annotated[int, Query(ge=1, le=MAX_PAGE, description="1 is the newest page.")]


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
