"""The JSON API under /api/v1."""

from fastapi import APIRouter

from forkable.web.api import (
    account_data,
    admin,
    auth,
    books,
    generation_status,
    generations,
    keys,
    ledger,
    maintenance,
    packs,
    payments,
)

api_router = APIRouter(prefix="/api/v1")
for module in (
    auth,
    ledger,
    keys,
    packs,
    generations,
    generation_status,
    books,
    payments,
    maintenance,
    admin,
    account_data,
):
    api_router.include_router(module.router)

__all__ = ["api_router"]
