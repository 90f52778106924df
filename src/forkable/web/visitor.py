"""What every page's header needs to know about the visitor: who, their balance, CSRF."""

from __future__ import annotations

from typing import Any

from fastapi.concurrency import run_in_threadpool

from forkable.accounts.service import Principal
from forkable.ledger.book import Balance, get_balance
from forkable.services import Services


def _balance(services: Services, user_id: int) -> Balance:
    with services.database.session() as session:
        return get_balance(session, user_id)


async def visitor_context(services: Services, principal: Principal | None) -> dict[str, Any]:
    """Template values for the header; anonymous visitors cost no database query."""
    if principal is None:
        return {"principal": None}
    balance = await run_in_threadpool(_balance, services, principal.user_id)
    return {"principal": principal, "balance": balance, "csrf_token": principal.csrf_token}
