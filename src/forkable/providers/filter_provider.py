"""A provider that runs one of the local OpenCV filters: offline, free, deterministic."""

from __future__ import annotations

from collections.abc import Mapping

from forkable.providers.base import (
    INTERNAL,
    ProviderError,
    TransformRequest,
    TransformResult,
    Usage,
)
from forkable.providers.local import FiltersNotInstalled, apply_filter


class LocalFilterProvider:
    """Runs ``filter_name`` with the site's parameters, overridden by the style's."""

    def __init__(self, filter_name: str, params: Mapping[str, object] | None = None) -> None:
        self.filter_name = filter_name
        self.params = dict(params or {})
        self.name = f"local:{filter_name}"

    def transform(self, request: TransformRequest) -> TransformResult:
        params = {**self.params, **request.params}
        try:
            image = apply_filter(
                self.filter_name, request.image, params, consume=request.consumable
            )
        except (ValueError, FiltersNotInstalled) as exc:
            # Not installed: the manifest checks refuse such a site before it serves; a site
            # built without them gets the same line instead of a traceback.
            raise ProviderError(INTERNAL, str(exc)) from exc
        return TransformResult(image=image, usage=Usage(cost_usd=0.0))
