"""Local, deterministic image filters (OpenCV, no network, no model weights).

Each filter lives in the module of the same name (``coloring_book.coloring_book``); they are
not re-exported here, so ``forkable.providers.local.coloring_book`` stays the module.
"""

from forkable.providers.local.registry import (
    FILTERS,
    UnknownFilterError,
    apply_filter,
    filter_parameters,
)

__all__ = ["FILTERS", "UnknownFilterError", "apply_filter", "filter_parameters"]
