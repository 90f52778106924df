"""Name-based access to the local filters, with parameter checking for untrusted input."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from contextlib import nullcontext
from typing import Final

from PIL import Image

from forkable.providers.local.cartoon import cartoon
from forkable.providers.local.coloring_book import coloring_book
from forkable.providers.local.filters import given_away
from forkable.providers.local.pencil_sketch import pencil_sketch
from forkable.providers.local.pixel_art import pixel_art
from forkable.providers.local.threads import OPENCV_THREADS
from forkable.providers.local.vintage import vintage
from forkable.providers.local.watercolor import watercolor

FILTERS: Final[dict[str, Callable[..., Image.Image]]] = {
    "coloring_book": coloring_book,
    "pencil_sketch": pencil_sketch,
    "cartoon": cartoon,
    "watercolor": watercolor,
    "pixel_art": pixel_art,
    "vintage": vintage,
}


class UnknownFilterError(KeyError):
    """Raised when a filter name is not in FILTERS."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name

    def __str__(self) -> str:
        # KeyError's own str() is the repr of its argument; give a readable sentence instead.
        return f"unknown filter {self.name!r}; available: {', '.join(sorted(FILTERS))}"


def filter_parameters(name: str) -> dict[str, object]:
    """Return the keyword parameters of the named filter with their default values."""
    try:
        function = FILTERS[name]
    except KeyError:
        raise UnknownFilterError(name) from None
    return {
        parameter.name: parameter.default
        for parameter in inspect.signature(function).parameters.values()
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY
    }


def apply_filter(
    name: str,
    image: Image.Image,
    params: Mapping[str, object] | None = None,
    *,
    consume: bool = False,
) -> Image.Image:
    """Run the named filter on image; unknown names and bad parameters raise clear errors.

    ``consume``: the caller will not use ``image`` again, so the filter frees its pixels as
    soon as it has its own copy (the image is closed afterwards).
    """
    accepted = filter_parameters(name)
    params = dict(params or {})
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise ValueError(
            f"unknown parameter(s) {', '.join(map(repr, unknown))} for filter {name!r}; "
            f"accepted: {', '.join(accepted) or 'none'}"
        )
    # Each filter checks the types and ranges of its own parameters.
    with OPENCV_THREADS.share(), given_away(image) if consume else nullcontext():
        return FILTERS[name](image, **params)
