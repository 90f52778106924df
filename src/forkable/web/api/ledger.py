"""The user's own ledger entries."""

from __future__ import annotations

from fastapi import APIRouter, Query
from sqlalchemy import select

from forkable.ledger.models import LedgerEntry
from forkable.web.api.schemas import LedgerEntryOut, errors
from forkable.web.auth import CurrentUser
from forkable.web.deps import ServicesDep

router = APIRouter(tags=["ledger"])


@router.get("/ledger", response_model=list[LedgerEntryOut], responses=errors(401, 422))
def my_ledger(
    principal: CurrentUser,
    services: ServicesDep,
    limit: int = Query(default=100, ge=1, le=500),
) -> list[LedgerEntryOut]:
    """Your entries, newest first. Amounts are changes to what you can spend."""
    with services.database.session() as session:
        entries = session.scalars(
            select(LedgerEntry)
            .where(
                LedgerEntry.site_id == principal.site_id,
                LedgerEntry.user_id == principal.user_id,
            )
            .order_by(LedgerEntry.id.desc())
            .limit(limit)
        )
        return [
            LedgerEntryOut(
                id=entry.id,
                amount=entry.available_delta,
                kind=entry.kind,
                ref=entry.ref,
                balance_after=entry.available_after,
                created_at=entry.created_at,
            )
            for entry in entries
        ]
