"""Validate an uploaded image: sniff, cap, decode, orient, strip metadata, re-encode."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import Enum
from io import BytesIO

from PIL import (
    Image,
    ImageFile,
    JpegImagePlugin,
    PngImagePlugin,
    WebPImagePlugin,
)

from forkable.image_bytes import encode_image

MIN_SIDE = 16
JPEG_QUALITY = 92
# libjpeg runs every scan over the whole image, however little data it holds: 50,000 empty
# scans (10 bytes each) kept a 12-MP decode busy for 95 s. Encoders write about ten.
MAX_JPEG_SCANS = 100
# Segments (and fill bytes) before the first scan; Pillow parses each in Python, so 2 million
# empty APP0 segments in 9 MB took 9 s. Cameras and encoders write a few dozen.
MAX_JPEG_HEADER_SEGMENTS = 1000
_JPEG_START_OF_SCAN = b"\xff\xda"

# ISO-BMFF brands of HEVC-coded HEIF; "mif1"/"msf1" are generic and also used by AVIF,
# so they only count when an HEVC brand is listed too.
_HEVC_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs"})
_GENERIC_HEIF_BRANDS = frozenset({b"mif1", b"msf1"})

# Everything Pillow and libheif raise for input they cannot make sense of.
_DECODE_ERRORS = (
    OSError,
    ValueError,
    SyntaxError,
    EOFError,
    IndexError,
    KeyError,
    TypeError,
    RuntimeError,
    struct.error,
    Image.DecompressionBombError,
    # Pillow warns about some damaged files (e.g. a bad APNG header), and callers may run with
    # warnings as errors; this covers DecompressionBombWarning too.
    Warning,
)

# Image.transpose() that turns an image stored with EXIF orientation N upright (index N),
# the same table as ImageOps.exif_transpose().
_TRANSPOSITIONS = (
    None,
    None,
    Image.Transpose.FLIP_LEFT_RIGHT,
    Image.Transpose.ROTATE_180,
    Image.Transpose.FLIP_TOP_BOTTOM,
    Image.Transpose.TRANSPOSE,
    Image.Transpose.ROTATE_270,
    Image.Transpose.TRANSVERSE,
    Image.Transpose.ROTATE_90,
)


class UploadProblem(Enum):
    """Why an upload is refused; `forkable.web.errors` says how HTTP answers each."""

    TOO_LARGE = "too_large"
    UNSUPPORTED_TYPE = "unsupported_type"
    INVALID_IMAGE = "invalid_image"
    INVALID_FORM = "invalid_form"  # the multipart/form-data around the file


class UploadError(Exception):
    """An upload the site refuses: why, and a message a visitor understands."""

    def __init__(self, problem: UploadProblem, message: str) -> None:
        super().__init__(message)
        self.problem = problem
        self.message = message

    @classmethod
    def too_large(cls, max_bytes: int, size: int | None = None) -> UploadError:
        """A file over the byte limit, with its size when it is known."""
        limit = f"the limit is {_bytes(max_bytes, up=False)}"
        if size is None:
            return cls(UploadProblem.TOO_LARGE, f"The file is too large; {limit}.")
        return cls(
            UploadProblem.TOO_LARGE, f"The file is too large ({_bytes(size, up=True)}; {limit})."
        )


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
            UploadProblem.UNSUPPORTED_TYPE, "This file is not a JPEG, PNG, WebP or HEIC image."
        )
    # Pillow parses (and warns about damaged) JPEG EXIF while opening the file, so the
    # metadata is cut out first; the orientation is read from it by hand.
    pillow_data, jpeg_exif = _strip_jpeg_metadata(data) if source_format == "jpeg" else (data, b"")
    image = _decode(pillow_data, source_format, max_pixels)
    image = _normalise(image, _orientation(image, jpeg_exif))
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
    # Metadata segments, where these bytes could appear as data, are cut out by now; in the
    # entropy-coded data an 0xFF byte is always followed by 0x00 or a restart marker.
    if source_format == "jpeg" and data.count(_JPEG_START_OF_SCAN) > MAX_JPEG_SCANS:
        raise _invalid(f"The image has too many scans to decode (the limit is {MAX_JPEG_SCANS}).")
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
    # Imported for the first HEIC upload only: libheif adds about 10 MB to the process.
    import pillow_heif

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


def _strip_jpeg_metadata(data: bytes) -> tuple[bytes, bytes]:
    """The JPEG without its APP1-APP13, APP15 and COM segments, and its EXIF payload."""
    kept = [data[:2]]
    exif = b""
    position = 2
    steps = 0
    while data[position : position + 1] == b"\xff" and position + 4 <= len(data):
        steps += 1
        if steps > MAX_JPEG_HEADER_SEGMENTS:
            raise _invalid(
                f"The image has too many header segments (the limit is {MAX_JPEG_HEADER_SEGMENTS})."
            )
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte before a marker
            position += 1
            continue
        if marker < 0xC0 or 0xD0 <= marker <= 0xDA:
            break  # start of scan, or a marker without a length: copy the rest as it is
        end = position + 2 + int.from_bytes(data[position + 2 : position + 4], "big")
        segment = data[position:end]
        if marker == 0xE1 and segment[4:10] == b"Exif\x00\x00" and not exif:
            exif = segment[10:]
        # APP0 (JFIF) and APP14 (Adobe, which says how CMYK is stored) affect decoding.
        if not ((0xE1 <= marker <= 0xEF and marker != 0xEE) or marker == 0xFE):
            kept.append(segment)
        position = end
    kept.append(data[position:])
    return b"".join(kept), exif


def _orientation(image: Image.Image, jpeg_exif: bytes) -> int:
    """The EXIF orientation, from the JPEG segment or the EXIF block PNG and WebP carry."""
    # pillow-heif has already reset it to 1: libheif applies HEIF's own rotation boxes.
    exif = jpeg_exif or image.info.get("exif")
    return _exif_orientation(exif) if isinstance(exif, bytes) else 1


def _exif_orientation(exif: bytes) -> int:
    """The Orientation tag of IFD0 in a raw EXIF block; 1 when absent or unreadable."""
    tiff = exif.removeprefix(b"Exif\x00\x00")
    order = {b"II": "<", b"MM": ">"}.get(tiff[:2])
    if order is None:
        return 1
    try:
        (ifd,) = struct.unpack_from(order + "I", tiff, 4)
        (count,) = struct.unpack_from(order + "H", tiff, ifd)
        for entry in range(ifd + 2, ifd + 2 + 12 * count, 12):
            tag, kind, _, value = struct.unpack_from(order + "HHIH", tiff, entry)
            if tag == 0x0112 and kind == 3:  # Orientation, stored as a SHORT
                return value if 1 <= value <= 8 else 1
    except struct.error:
        pass  # damaged EXIF: keep the image as stored
    return 1


def _normalise(image: Image.Image, orientation: int) -> Image.Image:
    """Upright, 8-bit RGB or RGBA, with no metadata attached."""
    transposition = _TRANSPOSITIONS[orientation]
    if transposition is not None:
        image = image.transpose(transposition)
    image = _to_rgb_or_rgba(image)
    # convert() and transpose() copy `info`, and PNG saving would write its ICC profile back.
    image.info.clear()
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
    # Already RGB: converting would copy every pixel (36 MB for a 12-MP photo) for nothing.
    return image if image.mode == "RGB" else image.convert("RGB")


def _sixteen_to_eight_bit(image: Image.Image) -> Image.Image:
    """Scale a 16-bit greyscale image ("I;16*" or "I") to 8-bit "L"."""
    # v16 = 257 * v8: divide and round; "L" clips what lies outside 0..65535 to 0..255.
    return image.convert("I").point(lambda value: value / 257 + 0.5).convert("L")


def _encode(image: Image.Image) -> tuple[bytes, str, str]:
    """Re-encode without any metadata: JPEG for opaque images, PNG to keep transparency."""
    if image.mode == "RGBA":
        # Level 1 encodes a photo about 3x faster than the default for about a third more bytes.
        return encode_image(image, "PNG", compress_level=1), "image/png", ".png"
    return encode_image(image, "JPEG", quality=JPEG_QUALITY), "image/jpeg", ".jpg"


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
    return UploadError(UploadProblem.INVALID_IMAGE, message)


def _unreadable() -> UploadError:
    return _invalid("The image could not be read; it may be damaged.")
