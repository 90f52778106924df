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
    from forkable.providers.local import FILTER_NAMES

    return frozenset(FILTER_NAMES)


def filters_missing(name: str) -> str | None:
    """Why the local filter ``name`` cannot run here (OpenCV is not installed), or None.

    Asked only of manifests that name a filter, so a site without one never loads OpenCV.
    """
    from forkable.providers.local.registry import missing_module, not_installed_message

    missing = missing_module()
    return None if missing is None else not_installed_message(name, missing)


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
        providers=provider_names(),
        filters=filter_names(),
        check_filter_params=check_filter_params,
        filter_missing=filters_missing,
    )
