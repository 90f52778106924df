"""Estimated provider prices, from a TOML table, to turn token usage into dollars."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

# What one image edit is expected to use, for reserving spend before the provider reports it:
# one output image of Gemini 2.5 Flash Image is 1290 tokens; the input photo is at most as
# many again, plus a prompt of a few hundred.
ESTIMATED_PROMPT_TOKENS = 1290 + 500
ESTIMATED_OUTPUT_TOKENS = 1290


@dataclass(frozen=True)
class Price:
    input_per_million: float
    output_per_million: float

    def cost(self, prompt_tokens: int | None, output_tokens: int | None) -> float:
        return (
            (prompt_tokens or 0) * self.input_per_million
            + (output_tokens or 0) * self.output_per_million
        ) / 1_000_000

    def estimate(self) -> float:
        """The expected cost of one image edit, before it is made."""
        return self.cost(ESTIMATED_PROMPT_TOKENS, ESTIMATED_OUTPUT_TOKENS)


class PriceTable:
    """Prices by model name, with a default for models the table does not know."""

    def __init__(self, models: dict[str, Price], default: Price) -> None:
        self.models = models
        self.default = default

    def for_model(self, model: str) -> Price:
        return self.models.get(model, self.default)

    @classmethod
    def load(cls, path: Path | None = None) -> PriceTable:
        """The table at ``path``, or the one shipped with forkable."""
        if path is None:
            text = files("forkable.providers").joinpath("prices.toml").read_text("utf-8")
        else:
            text = path.read_text("utf-8")
        data = tomllib.loads(text)

        def price(entry: dict[str, float]) -> Price:
            return Price(float(entry["input_per_million"]), float(entry["output_per_million"]))

        models = {name: price(entry) for name, entry in data.get("models", {}).items()}
        return cls(models, price(data["default"]))
