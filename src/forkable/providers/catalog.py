"""What providers and local filters this installation offers, for manifest checks."""

from __future__ import annotations

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


def build_catalog() -> Catalog:
    return Catalog(providers=provider_names(), filters=filter_names())
