"""The token packs on sale."""

from __future__ import annotations

from fastapi import APIRouter

from forkable.web.api.schemas import PackOut
from forkable.web.deps import SiteDep

router = APIRouter(tags=["payments"])


@router.get("/packs", response_model=list[PackOut])
async def packs(site: SiteDep) -> list[PackOut]:
    pricing = site.manifest.pricing
    return [
        PackOut(
            id=pack.id,
            name=pack.display_name,
            tokens=pack.tokens,
            price_cents=pack.price_cents,
            currency=pricing.currency,
        )
        for pack in pricing.packs
    ]
