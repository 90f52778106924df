"""Validate an uploaded image: sniff, cap, decode, orient, strip metadata, re-encode."""

from __future__ import annotations

from dataclasses import dataclass
from io import BytesIO
from struct import error as StructError

import numpy as np
import pillow_heif
from PIL import (
    Image,
    ImageFile,
    ImageOps,
    JpegImagePlugin,
    PngImagePlugin,
    WebPImagePlugin,
)

pillow_heif.register_heif_opener()

ACCEPTED_FORMATS = ("jpeg", "png", "webp", "heic")
MIN_SIDE = 16
JPEG_QUALITY = 92

# ISO-BMFF brands of HEVC-coded HEIF; "mif1"/"msf1" are generic and also used by AVIF,
# so they only count when an HEVC brand is listed too.
_HEVC_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs"})
_GENERIC_HEIF_BRANDS = frozenset({b"mif1", b"msf1"})

# Everything Pillow and libheif raise for input they cannot make sense of. DecompressionBombWarning
# is listed because a caller may run with warnings turned into errors.
_DECODE_ERRORS = (
    OSError,
    ValueError,
    SyntaxError,
    EOFError,
    IndexError,
    KeyError,
    TypeError,
    RuntimeError,
    StructError,
    Image.DecompressionBombError,
    Image.DecompressionBombWarning,
)


class UploadError(Exception):
    """An upload the site refuses, with the HTTP status and a message a visitor understands."""

    def __init__(self, status_code: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.code = code
        self.message = message

    @classmethod
    def too_large(cls, max_bytes: int, size: int | None = None) -> UploadError:
        """The 413 for a file over the byte limit, with its size when it is known."""
        limit = f"the limit is {_bytes(max_bytes, up=False)}"
        if size is None:
            return cls(413, "too_large", f"The file is too large; {limit}.")
        return cls(413, "too_large", f"The file is too large ({_bytes(size, up=True)}; {limit}).")


@dataclass(frozen=True)
class ValidatedImage:
    """A decoded, upright, metadata-free image and its re-encoded bytes."""

    image: Image.Image
    source_format: str
    data: bytes
    media_type: str
    extension: str
    width: int
    height: int


def validate_image(data: bytes, *, max_bytes: int, max_pixels: int = 40_000_000) -> ValidatedImage:
    """Check an upload and return it decoded and re-encoded, or raise `UploadError`."""
    if not data:
        raise _invalid("The file is empty.")
    if len(data) > max_bytes:
        raise UploadError.too_large(max_bytes, len(data))
    source_format = sniff_format(data)
    if source_format is None:
        raise UploadError(
            415, "unsupported_media_type", "This file is not a JPEG, PNG, WebP or HEIC image."
        )
    image = _decode(data, source_format, max_pixels)
    image = _normalise(image)
    encoded, media_type, extension = _encode(image)
    return ValidatedImage(
        image=image,
        source_format=source_format,
        data=encoded,
        media_type=media_type,
        extension=extension,
        width=image.width,
        height=image.height,
    )


def sniff_format(data: bytes) -> str | None:
    """The accepted format the magic bytes announce, or None."""
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return "webp"
    if data[4:8] == b"ftyp" and _is_hevc_heif(data):
        return "heic"
    return None


def _is_hevc_heif(data: bytes) -> bool:
    """Whether an ISO-BMFF `ftyp` box declares HEVC-coded HEIF."""
    box_size = min(int.from_bytes(data[:4], "big"), len(data), 256)
    major = data[8:12]
    compatible = {data[i : i + 4] for i in range(16, box_size - 3, 4)}
    if major in _HEVC_BRANDS:
        return True
    return major in _GENERIC_HEIF_BRANDS and bool(compatible & _HEVC_BRANDS)


def _decode(data: bytes, source_format: str, max_pixels: int) -> Image.Image:
    """Read the header, check the size, then decode the first frame in full."""
    declared = _webp_canvas_size(data) if source_format == "webp" else None
    if declared is not None:
        # libwebp allocates the whole canvas when the file is opened, so check before that.
        _check_size(*declared, max_pixels)
    try:
        image = _open_header(data, source_format)
    except _DECODE_ERRORS as exc:
        raise _unreadable() from exc
    _check_size(image.width, image.height, max_pixels)
    try:
        # The first frame of an animation; load() decodes every byte, so truncation fails here
        # (as long as nobody set ImageFile.LOAD_TRUNCATED_IMAGES, which this module never does).
        image.load()
    except _DECODE_ERRORS as exc:
        raise _unreadable() from exc
    return image


def _open_header(data: bytes, source_format: str) -> ImageFile.ImageFile:
    """Parse only the header with the plugin for the sniffed format; no pixels are decoded."""
    # Instantiating the plugin class, rather than Image.open(), skips Pillow's own bomb check,
    # which reads the global MAX_IMAGE_PIXELS and warns; our own limit is checked right after.
    stream = BytesIO(data)
    if source_format == "jpeg":
        return JpegImagePlugin.JpegImageFile(stream)
    if source_format == "png":
        return PngImagePlugin.PngImageFile(stream)
    if source_format == "webp":
        return WebPImagePlugin.WebPImageFile(stream)
    # pillow-heif's plugin forwards *args/**kwargs to ImageFile without annotations.
    return pillow_heif.HeifImageFile(stream)  # type: ignore[no-untyped-call]


def _webp_canvas_size(data: bytes) -> tuple[int, int] | None:
    """The canvas size a WebP header declares, if it is readable."""
    chunk = data[12:16]
    if chunk == b"VP8 " and data[23:26] == b"\x9d\x01\x2a" and len(data) >= 30:
        return (
            int.from_bytes(data[26:28], "little") & 0x3FFF,
            int.from_bytes(data[28:30], "little") & 0x3FFF,
        )
    if chunk == b"VP8X" and len(data) >= 30:
        return int.from_bytes(data[24:27], "little") + 1, int.from_bytes(data[27:30], "little") + 1
    if chunk == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    return None


def _check_size(width: int, height: int, max_pixels: int) -> None:
    """Refuse images too big to decode safely or too small to transform."""
    pixels = width * height
    if pixels > max_pixels:
        raise _invalid(
            f"The image is too large ({_tenths(pixels, 1_000_000, up=True)} megapixels; "
            f"the limit is {_tenths(max_pixels, 1_000_000, up=False)})."
        )
    if width < MIN_SIDE or height < MIN_SIDE:
        raise _invalid(
            f"The image is too small to transform ({width}x{height} pixels; "
            f"it needs at least {MIN_SIDE}x{MIN_SIDE})."
        )


def _normalise(image: Image.Image) -> Image.Image:
    """Upright, 8-bit RGB or RGBA, with no metadata attached."""
    image = _upright(image)
    image = _to_rgb_or_rgba(image)
    # convert() and transpose() copy `info`, and PNG saving would write its ICC profile back.
    image.info.clear()
    return image


def _upright(image: Image.Image) -> Image.Image:
    """Apply the EXIF orientation; a broken EXIF block leaves the image as stored."""
    try:
        return ImageOps.exif_transpose(image)
    except _DECODE_ERRORS:
        return image


def _to_rgb_or_rgba(image: Image.Image) -> Image.Image:
    """8-bit RGB, or RGBA when some pixel is actually see-through."""
    if image.mode.startswith("I"):
        # Pillow clips 16-bit values to 255 when converting to "L"; scale them instead.
        image = _sixteen_to_eight_bit(image)
    if image.mode in ("RGBA", "LA", "PA") or image.has_transparency_data:
        rgba = image.convert("RGBA")
        min_alpha, _ = rgba.getchannel("A").getextrema()
        if isinstance(min_alpha, int) and min_alpha < 255:
            return rgba
        return rgba.convert("RGB")
    return image.convert("RGB")


def _sixteen_to_eight_bit(image: Image.Image) -> Image.Image:
    """Scale a 16-bit greyscale image ("I;16*" or "I") to 8-bit "L"."""
    values = np.asarray(image).astype(np.int64).clip(0, 65535)
    return Image.fromarray(((values + 128) // 257).astype(np.uint8))


def _encode(image: Image.Image) -> tuple[bytes, str, str]:
    """Re-encode without any metadata: JPEG for opaque images, PNG to keep transparency."""
    out = BytesIO()
    if image.mode == "RGBA":
        # Level 1 is several times faster than the default on photos for a few percent more bytes.
        image.save(out, "PNG", compress_level=1)
        return out.getvalue(), "image/png", ".png"
    image.save(out, "JPEG", quality=JPEG_QUALITY)
    return out.getvalue(), "image/jpeg", ".jpg"


def _bytes(value: int, *, up: bool) -> str:
    """A byte count in MB or KB for a visitor."""
    for unit, scale in (("MB", 1_000_000), ("KB", 1_000)):
        if value >= scale:
            return f"{_tenths(value, scale, up=up)} {unit}"
    return f"{value} bytes"


def _tenths(value: int, scale: int, *, up: bool) -> str:
    """`value / scale` to one decimal, rounded up for sizes and down for limits."""
    tenths = -(-value * 10 // scale) if up else value * 10 // scale
    return f"{tenths / 10:.1f}".removesuffix(".0")


def _invalid(message: str) -> UploadError:
    return UploadError(422, "invalid_image", message)


def _unreadable() -> UploadError:
    return _invalid("The image could not be read; it may be damaged.")
