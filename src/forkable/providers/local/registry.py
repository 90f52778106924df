"""Name-based access to the local filters, with parameter checking for untrusted input.

The filters need OpenCV, which comes with the `filters` extra (`pip install 'forkable[filters]'`):
a site on a remote model without a local fallback runs without it, and a Vercel function
without it stays well under the platform's size limit. So nothing here imports a filter, or
OpenCV, until a filter is asked for by name; the names themselves are known without it.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Iterator, Mapping
from contextlib import nullcontext
from typing import Final

from PIL import Image

EXTRA: Final = "filters"
INSTALL_HINT: Final = f"pip install 'forkable[{EXTRA}]'"
# Each filter is the function of the same name in the module of the same name.
FILTER_NAMES: Final = (
    "coloring_book",
    "pencil_sketch",
    "cartoon",
    "watercolor",
    "pixel_art",
    "vintage",
)
_PACKAGE = __name__.rpartition(".")[0]


class UnknownFilterError(KeyError):
    """Raised when a filter name is not in FILTERS."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name

    def __str__(self) -> str:
        # KeyError's own str() is the repr of its argument; give a readable sentence instead.
        return f"unknown filter {self.name!r}; available: {', '.join(sorted(FILTER_NAMES))}"


class FiltersNotInstalled(ImportError):
    """A local filter was asked for, but OpenCV (the `filters` extra) is not installed."""

    def __init__(self, name: str, missing: str) -> None:
        super().__init__(not_installed_message(name, missing), name=missing)
        self.filter_name = name
        self.missing = missing


def not_installed_message(name: str, missing: str) -> str:
    """The one line that names the filter, what is missing and the fix."""
    return f"local filter {name!r} is not installed ({missing} is missing): {INSTALL_HINT}"


def missing_module() -> str | None:
    """The module the local filters need that cannot be imported here, or None.

    Imported for real rather than looked up: an OpenCV that is present but cannot load (a
    wheel for another platform, a missing system library) is as missing as an absent one.
    """
    try:
        import cv2  # noqa: F401
    except ImportError as exc:
        return exc.name or "cv2"
    return None


class _Filters(Mapping[str, Callable[..., Image.Image]]):
    """FILTERS: the names without OpenCV; a filter's module is imported when it is looked up."""

    def __getitem__(self, name: str) -> Callable[..., Image.Image]:
        if name not in FILTER_NAMES:
            raise UnknownFilterError(name)
        try:
            module = importlib.import_module(f"{_PACKAGE}.{name}")
        except ImportError as exc:
            missing = missing_module()
            if missing is None:
                raise  # something else is broken: let its own error speak
            raise FiltersNotInstalled(name, missing) from exc
        function: Callable[..., Image.Image] = getattr(module, name)
        return function

    def __iter__(self) -> Iterator[str]:
        return iter(FILTER_NAMES)

    def __len__(self) -> int:
        return len(FILTER_NAMES)

    def __contains__(self, name: object) -> bool:
        return name in FILTER_NAMES


FILTERS: Final[Mapping[str, Callable[..., Image.Image]]] = _Filters()


def filter_parameters(name: str) -> dict[str, object]:
    """Return the keyword parameters of the named filter with their default values."""
    function = FILTERS[name]
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
    # Imported here, not above: both modules import OpenCV, which FILTERS[name] has just loaded.
    from forkable.providers.local.filters import given_away
    from forkable.providers.local.threads import OPENCV_THREADS

    # Each filter checks the types and ranges of its own parameters.
    with OPENCV_THREADS.share(), given_away(image) if consume else nullcontext():
        return FILTERS[name](image, **params)
