"""The image model's credentials and prices."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from forkable.settings.fields import variable


class ProviderSettings(BaseModel):
    """The image model's credentials and prices."""

    gemini_api_key: str | None = variable("GEMINI_API_KEY", "GOOGLE_API_KEY", meaning="Gemini key")
    gemini_base_url: str | None = variable(
        "FORKABLE_GEMINI_BASE_URL",
        meaning="point the Gemini client elsewhere (tests, proxies)",
        shown_default="Google's",
    )
    price_table: Path | None = variable(
        "FORKABLE_PRICE_TABLE",
        meaning="a TOML price table (dollars per million tokens by model) replacing the shipped "
        "`providers/prices.toml`",
        shown_default="shipped table",
    )
