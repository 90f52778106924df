"""What providers and local filters this installation offers, for manifest checks."""

from __future__ import annotations

from collections.abc import Mapping
from importlib.metadata import entry_points

from forkable.manifest import Catalog

BUILTIN_PROVIDERS = ("gemini", "local")
ENTRY_POINT_GROUP = "forkable.providers"  # the same group the resolver loads plugins from


def provider_names() -> frozenset[str]:
    """Built-in providers plus those installed through the `forkable.providers` entry points."""
    plugins = {ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)}
    return frozenset(BUILTIN_PROVIDERS) | plugins


def filter_names() -> frozenset[str]:
    from forkable.providers.local import FILTERS

    return frozenset(FILTERS)


def check_filter_params(name: str, params: Mapping[str, object]) -> str | None:
    """Run the filter on a tiny image: its own checks judge names, types and ranges."""
    from PIL import Image

    from forkable.providers.local import apply_filter

    try:
        apply_filter(name, Image.new("RGB", (32, 32), "white"), params)
    except (ValueError, TypeError) as exc:
        return str(exc)
    return None


def build_catalog() -> Catalog:
    return Catalog(
        providers=provider_names(), filters=filter_names(), check_filter_params=check_filter_params
    )
