"""Local, deterministic image filters (OpenCV, no network, no model weights).

Each filter lives in the module of the same name (``coloring_book.coloring_book``); they are
not re-exported here, so ``forkable.providers.local.coloring_book`` stays the module. Importing
this package does not import OpenCV (the `filters` extra): see `registry`.
"""

from forkable.providers.local.registry import (
    FILTER_NAMES,
    FILTERS,
    INSTALL_HINT,
    FiltersNotInstalled,
    UnknownFilterError,
    apply_filter,
    filter_parameters,
    missing_module,
)

__all__ = [
    "FILTERS",
    "FILTER_NAMES",
    "INSTALL_HINT",
    "FiltersNotInstalled",
    "UnknownFilterError",
    "apply_filter",
    "filter_parameters",
    "missing_module",
]
