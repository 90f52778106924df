"""An example provider plugin for forkable: turns photos into two-colour duotone prints.

A provider is any object with a `name` and a `transform(request) -> result` method (see
`forkable.providers.base.Provider`). forkable finds this one through the entry point in
pyproject.toml and calls `make_provider(site, settings)` once per site.
"""

from __future__ import annotations

from typing import Any

from PIL import Image, ImageOps

from forkable.providers.base import (
    INTERNAL,
    ProviderError,
    TransformRequest,
    TransformResult,
    Usage,
)


class DuotoneProvider:
    """Maps the photo's greys onto a ramp between two colours."""

    name = "duotone"

    def __init__(self, dark: str, light: str) -> None:
        self.dark = dark
        self.light = light

    def transform(self, request: TransformRequest) -> TransformResult:
        dark = str(request.params.get("dark", self.dark))
        light = str(request.params.get("light", self.light))
        try:
            grey = ImageOps.autocontrast(ImageOps.grayscale(request.image.convert("RGB")))
            image: Image.Image = ImageOps.colorize(grey, black=dark, white=light)
        except ValueError as exc:  # an unknown colour name in the manifest
            raise ProviderError(INTERNAL, str(exc)) from exc
        return TransformResult(image=image, usage=Usage(cost_usd=0.0))


def make_provider(site: Any, settings: Any) -> DuotoneProvider:
    """Build the provider for one site, from its `[transform.params]`."""
    params = site.manifest.transform.params
    return DuotoneProvider(
        dark=str(params.get("dark", "#1d3557")), light=str(params.get("light", "#f1faee"))
    )
