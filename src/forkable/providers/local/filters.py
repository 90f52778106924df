"""Shared building blocks of the local filters: input normalisation, resizing, parameter checks."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image

U8 = npt.NDArray[np.uint8]

# The photo the filter running in this thread may free (`release_input`), while `given_away`
# says its caller will not use it again. A context variable, so filters keep their signatures
# (their keyword parameters are what sites may set) and other threads' calls are not affected.
_GIVEN_AWAY: ContextVar[Image.Image | None] = ContextVar("forkable_given_away", default=None)


@contextmanager
def given_away(image: Image.Image) -> Iterator[None]:
    """For the block, the filter may free ``image``'s pixels once it has its own copy."""
    token = _GIVEN_AWAY.set(image)
    try:
        yield
    finally:
        _GIVEN_AWAY.reset(token)


def release_input(image: Image.Image) -> None:
    """Free the input photo's pixels if its caller gave it away (`given_away`).

    Filters call this as soon as they have their own array of the photo. A 12-MP photo is
    48 MB as a Pillow image; left alive to the end of the filter, every job in progress holds
    it twice over (measured: four 12-MP photos at once peaked about 100 MB lower with it freed).
    """
    if _GIVEN_AWAY.get() is image:
        image.close()


# Filters analyse a working copy of this long side so their look (and parameters expressed in
# pixels) does not depend on the camera's resolution.
WORK_SIDE = 1024

# Small images are enlarged to at most this factor for analysis: beyond it, cost without detail.
MAX_UPSCALE = 4

WHITE = (255, 255, 255)


def to_rgb(image: Image.Image) -> U8:
    """Return the image as an RGB uint8 array, flattening any transparency onto white."""
    if image.width == 0 or image.height == 0:
        raise ValueError("image is empty (zero width or height)")
    if image.mode == "La":
        # Pillow converts premultiplied grey-alpha only to LA; from there on all is ordinary.
        image = image.convert("LA")
    has_alpha = image.mode in {"RGBA", "LA", "PA", "RGBa"} or (
        image.mode in {"P", "L", "RGB"} and "transparency" in image.info
    )
    if has_alpha:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (*WHITE, 255))
        image = Image.alpha_composite(background, rgba)
    if image.mode != "RGB":
        image = image.convert("RGB")
    return np.asarray(image, dtype=np.uint8)


def shrink_for_work(image: Image.Image) -> Image.Image:
    """A camera-size photo reduced by a whole factor (box filter) towards WORK_SIDE.

    Decoding to a full-size array first would cost three bytes a pixel (36 MB at 12 MP)
    only to be averaged down to ~1 MP; Pillow's reduce does the same averaging in place.
    """
    factor = max(image.size) // WORK_SIDE
    if factor < 2 or image.mode not in ("RGB", "RGBA", "L", "LA"):
        return image
    return image.reduce(factor)


def scaled_size(width: int, height: int, long_side: int) -> tuple[int, int]:
    """Return (width, height) scaled so the longer side is long_side, at least 1x1."""
    scale = long_side / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def resize(array: U8, size: tuple[int, int], *, smooth: bool = True) -> U8:
    """Resize to (width, height): area averaging down, bicubic (or nearest) up."""
    height, width = array.shape[:2]
    if (width, height) == size:
        return array
    if size[0] < width and size[1] < height:
        interpolation = cv2.INTER_AREA
    else:
        interpolation = cv2.INTER_CUBIC if smooth else cv2.INTER_NEAREST
    return np.asarray(cv2.resize(array, size, interpolation=interpolation), dtype=np.uint8)


def working_copy(rgb: U8, *, allow_upscale: bool) -> U8:
    """Return a copy of rgb with a WORK_SIDE long side (enlarged only if asked, at most 4x)."""
    height, width = rgb.shape[:2]
    long_side = max(width, height)
    if allow_upscale:
        target = min(WORK_SIDE, MAX_UPSCALE * long_side)
    else:
        target = min(WORK_SIDE, long_side)
    return resize(rgb, scaled_size(width, height, target))


def upscale_mask(mask: U8, size: tuple[int, int], *, soften: float = 1.2) -> U8:
    """Resize a 0/255 line mask to size and re-binarise it, with smooth (not stair-step) edges."""
    if soften > 0:
        mask = np.asarray(cv2.GaussianBlur(mask, (0, 0), soften), dtype=np.uint8)
    height, width = mask.shape[:2]
    if (width, height) != size:
        shrinking = size[0] < width and size[1] < height
        interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
        mask = np.asarray(cv2.resize(mask, size, interpolation=interpolation), dtype=np.uint8)
    # Below half grey, so the thinnest (2 px) lines, which the blur spreads out, survive.
    cv2.threshold(mask, 100, 255, cv2.THRESH_BINARY, dst=mask)
    return mask


def remove_small_components(mask: U8, min_area: int) -> U8:
    """Drop 8-connected foreground blobs of mask smaller than min_area pixels."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if count <= 1:
        return mask
    keep = (stats[:, cv2.CC_STAT_AREA] >= min_area).astype(np.uint8) * 255
    keep[0] = 0
    return np.asarray(keep[labels], dtype=np.uint8)


def disk(diameter: int) -> U8:
    """Return an elliptical structuring element of the given diameter."""
    return np.asarray(
        cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (diameter, diameter)), dtype=np.uint8
    )


def check_int(name: str, value: object, low: int, high: int) -> int:
    """Return value if it is an int within [low, high], else raise a ValueError naming it."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low} and {high}, got {value}")
    return int(value)


def check_float(name: str, value: object, low: float, high: float) -> float:
    """Return value as a float if it is a number within [low, high], else raise a ValueError."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ValueError(f"{name} must be a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number) or not low <= number <= high:
        raise ValueError(f"{name} must be between {low} and {high}, got {value}")
    return number


def check_bool(name: str, value: object) -> bool:
    """Return value if it is a bool, else raise a ValueError naming it (no 0/1 or "yes")."""
    if not isinstance(value, bool | np.bool_):
        raise ValueError(f"{name} must be true or false, got {value!r}")
    return bool(value)
