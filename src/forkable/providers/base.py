"""The one interface every image provider implements, and the errors it may raise."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from PIL import Image


@dataclass(frozen=True)
class Usage:
    """What one call cost, as the provider reports it."""

    prompt_tokens: int | None = None
    output_tokens: int | None = None
    total_tokens: int | None = None
    cost_usd: float | None = None


@dataclass(frozen=True)
class TransformRequest:
    image: Image.Image
    prompt: str
    params: Mapping[str, object] = field(default_factory=dict)
    model: str | None = None
    deadline: float | None = None  # time.monotonic() value after which to give up
    # The caller will not use ``image`` again: the provider may free its pixels (close it)
    # once it has what it needs. The runner's decoded inputs are made for one job.
    consumable: bool = False


@dataclass(frozen=True)
class TransformResult:
    image: Image.Image
    usage: Usage = field(default_factory=Usage)


# The reasons a visitor may read; each maps to one sentence in generations/messages.py.
BLOCKED = "blocked"
BUSY = "busy"
DOWN = "down"
NO_IMAGE = "no_image"
DEADLINE = "deadline"
QUOTA = "quota"
REJECTED = "rejected"
INTERNAL = "internal"


class ProviderError(Exception):
    """A transform that did not produce an image, with a reason from the list above."""

    def __init__(
        self,
        reason: str,
        detail: str = "",
        *,
        retryable: bool = False,
        usage: Usage | None = None,
    ) -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail
        self.retryable = retryable
        self.usage = usage or Usage()  # a refused call may still have been billed


class Provider(Protocol):
    """Turns one image into another."""

    name: str

    def transform(self, request: TransformRequest) -> TransformResult: ...


def close_provider(provider: object) -> None:
    """Release what a provider holds (pooled connections), if it has a `close()`.

    Optional for plugins: a provider that keeps nothing open needs none.
    """
    close = getattr(provider, "close", None)
    if callable(close):
        close()
