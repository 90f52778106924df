"""Upload validation against real photos, hostile files and awkward encodings."""

from __future__ import annotations

import struct
import tracemalloc
import zlib
from io import BytesIO
from typing import Any

import numpy as np
import pytest
import skimage.data
from PIL import ExifTags, Image, ImageFile, ImageOps

from forkable.generations.uploads import UploadError, ValidatedImage, sniff_format, validate_image
from forkable.web.errors import REFUSAL_ANSWERS

MAX_BYTES = 20_000_000
METADATA_KEYS = ("exif", "icc_profile", "xmp", "XML:com.adobe.xmp", "comment")


def photo(size: tuple[int, int] = (256, 192)) -> Image.Image:
    """A real RGB photograph, resized to `size`."""
    return Image.fromarray(skimage.data.astronaut()).resize(size)


def encode(image: Image.Image, fmt: str, **params: Any) -> bytes:
    out = BytesIO()
    image.save(out, fmt, **params)
    return out.getvalue()


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_bytes(width: int, height: int, bit_depth: int, colour_type: int, rows: bytes) -> bytes:
    """A PNG written by hand, so the header can say anything."""
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", zlib.compress(rows, 9))
        + png_chunk(b"IEND", b"")
    )


def pixels(result: ValidatedImage) -> np.ndarray:
    return np.asarray(result.image, dtype=np.int16)


def mean_difference(a: Image.Image, b: Image.Image) -> float:
    return float(np.abs(np.asarray(a, dtype=np.int16) - np.asarray(b, dtype=np.int16)).mean())


def reject(data: bytes, **kwargs: Any) -> UploadError:
    kwargs.setdefault("max_bytes", MAX_BYTES)
    with pytest.raises(UploadError) as caught:
        validate_image(data, **kwargs)
    return caught.value


def assert_no_metadata(data: bytes) -> None:
    reopened = Image.open(BytesIO(data))
    assert not reopened.getexif()
    assert not set(METADATA_KEYS) & set(reopened.info)
    assert b"Exif\x00\x00" not in data


# Accepted formats


@pytest.mark.parametrize(
    ("fmt", "params", "source_format"),
    [
        ("JPEG", {"quality": 95}, "jpeg"),
        ("PNG", {}, "png"),
        ("WEBP", {"quality": 95}, "webp"),
        ("HEIF", {"quality": 95}, "heic"),
    ],
)
def test_accepts_real_photos(fmt: str, params: dict[str, Any], source_format: str) -> None:
    original = photo()
    result = validate_image(encode(original, fmt, **params), max_bytes=MAX_BYTES)
    assert result.source_format == source_format
    assert (result.media_type, result.extension) == ("image/jpeg", ".jpg")
    assert (result.width, result.height) == original.size == result.image.size
    assert result.image.mode == "RGB"
    assert result.image.info == {}
    assert mean_difference(result.image, original) < 6
    reencoded = Image.open(BytesIO(result.data))
    assert reencoded.format == "JPEG"
    assert reencoded.size == original.size
    assert_no_metadata(result.data)


def test_sniffs_heif_with_generic_major_brand() -> None:
    ftyp = struct.pack(">I", 24) + b"ftypmif1" + b"\0\0\0\0" + b"mif1heic"
    assert sniff_format(ftyp + b"\0" * 16) == "heic"


def test_avif_is_not_heic() -> None:
    ftyp = struct.pack(">I", 28) + b"ftypavif" + b"\0\0\0\0" + b"avifmif1miaf"
    assert sniff_format(ftyp + b"\0" * 16) is None
    assert REFUSAL_ANSWERS[reject(ftyp + b"\0" * 64).problem].status == 415


def test_twelve_megapixel_jpeg_is_accepted_whole() -> None:
    # How long this takes is measured, not asserted: benchmarks/bench_uploads.py.
    data = encode(photo((4000, 3000)), "JPEG", quality=95)
    result = validate_image(data, max_bytes=MAX_BYTES)
    assert result.image.size == (4000, 3000)


# Refused before decoding


def test_empty_file_is_422() -> None:
    error = reject(b"")
    assert (*REFUSAL_ANSWERS[error.problem], error.message) == (
        422,
        "invalid_image",
        "The file is empty.",
    )


def test_oversized_file_is_413() -> None:
    data = encode(photo(), "JPEG")
    error = reject(data, max_bytes=len(data) - 1)
    assert REFUSAL_ANSWERS[error.problem] == (413, "too_large")
    assert "limit" in error.message


def test_size_message_reads_in_megabytes() -> None:
    error = reject(b"\xff\xd8\xff" + b"\0" * 2_500_000, max_bytes=2_000_000)
    assert error.message == "The file is too large (2.6 MB; the limit is 2 MB)."


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(
            b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', id="svg"
        ),
        pytest.param(b"<!DOCTYPE html><html><body>hello.png</body></html>", id="html-named-png"),
        pytest.param(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", id="pdf"),
        pytest.param(b"just some text", id="text"),
    ],
)
def test_non_images_are_415(data: bytes) -> None:
    error = reject(data)
    assert REFUSAL_ANSWERS[error.problem] == (415, "unsupported_media_type")
    assert error.message == "This file is not a JPEG, PNG, WebP or HEIC image."


@pytest.mark.parametrize("fmt", ["GIF", "BMP", "TIFF", "ICO"])
def test_other_image_formats_are_415(fmt: str) -> None:
    error = reject(encode(photo((64, 64)), fmt))
    assert REFUSAL_ANSWERS[error.problem] == (415, "unsupported_media_type")


def test_png_bomb_is_rejected_without_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    # A 1x1 image's data under a header that claims 30000x30000 (2.7 GB of RGB).
    bomb = png_bytes(30_000, 30_000, 8, 2, b"\0" + b"\0\0\0")
    assert len(bomb) < 100
    decoded: list[object] = []
    monkeypatch.setattr(ImageFile.ImageFile, "load_prepare", lambda self: decoded.append(self))

    tracemalloc.start()
    try:
        error = reject(bomb)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert REFUSAL_ANSWERS[error.problem] == (422, "invalid_image")
    assert error.message == "The image is too large (900 megapixels; the limit is 40)."
    assert decoded == []  # never decoded, and so (not a timing) never slow
    assert peak < 50_000_000


def test_pixel_cap_below_pillows_own_limit() -> None:
    # 100 MP: Image.open() would only emit DecompressionBombWarning here (an error under this
    # test configuration); our own check must answer first, without any warning.
    bomb = png_bytes(10_000, 10_000, 8, 0, b"\0" * 9)
    error = reject(bomb)
    assert error.message == "The image is too large (100 megapixels; the limit is 40)."


def test_pixel_cap_is_configurable() -> None:
    error = reject(encode(photo((1000, 1000)), "JPEG"), max_pixels=999_999)
    assert error.message == "The image is too large (1 megapixels; the limit is 0.9)."


def test_webp_bomb_is_rejected_before_libwebp_sees_it() -> None:
    # VP8X header for a 16384x16384 canvas; libwebp would allocate it when the file is opened.
    vp8x = b"VP8X" + struct.pack("<I", 10) + b"\0\0\0\0" + (16383).to_bytes(3, "little") * 2
    bomb = b"RIFF" + struct.pack("<I", 4 + len(vp8x)) + b"WEBP" + vp8x
    error = reject(bomb)
    assert error.message == "The image is too large (268.5 megapixels; the limit is 40)."


def jpeg_with_empty_scans(count: int) -> bytes:
    """A progressive JPEG with `count` extra scans that hold no data."""
    data = encode(photo((64, 48)), "JPEG", progressive=True)
    end = data.rindex(b"\xff\xd9")
    # A luma AC scan: libjpeg runs it over every block of the image, data or not.
    empty_scan = b"\xff\xda" + struct.pack(">HB", 8, 1) + bytes([1, 0x00, 1, 63, 0x00])
    return data[:end] + empty_scan * count + data[end:]


def test_jpeg_with_thousands_of_scans_is_rejected_without_decoding(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # At 12 MP, 50,000 such scans (500 KB) kept the decoder busy for 95 s.
    bomb = jpeg_with_empty_scans(5000)
    decoded: list[object] = []
    monkeypatch.setattr(ImageFile.ImageFile, "load_prepare", lambda self: decoded.append(self))
    error = reject(bomb)
    assert REFUSAL_ANSWERS[error.problem] == (422, "invalid_image")
    assert error.message == "The image has too many scans to decode (the limit is 100)."
    assert decoded == []


def test_jpeg_with_some_extra_scans_is_still_read() -> None:
    assert validate_image(jpeg_with_empty_scans(80), max_bytes=MAX_BYTES).image.size == (64, 48)


def test_jpeg_with_a_million_header_segments_is_rejected() -> None:
    # Pillow parses each segment in Python: 2 million empty APP0 segments took 9 s.
    data = encode(photo(), "JPEG")
    error = reject(data[:2] + b"\xff\xe0\x00\x02" * 1_000_000 + data[2:])
    assert REFUSAL_ANSWERS[error.problem] == (422, "invalid_image")
    assert error.message == "The image has too many header segments (the limit is 1000)."


def test_tiny_image_is_422() -> None:
    error = reject(encode(photo((8, 8)), "PNG"))
    assert REFUSAL_ANSWERS[error.problem] == (422, "invalid_image")
    assert "too small to transform" in error.message


# Damaged files


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "HEIF"])
def test_truncated_files_are_422(fmt: str) -> None:
    data = encode(photo(), fmt)
    error = reject(data[: len(data) // 2])
    assert REFUSAL_ANSWERS[error.problem] == (422, "invalid_image")
    assert error.message == "The image could not be read; it may be damaged."


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"\xff\xd8\xff" + bytes(range(256)) * 4, id="jpeg-magic-then-noise"),
        pytest.param(b"\x89PNG\r\n\x1a\n" + b"\0" * 64, id="png-magic-then-zeros"),
        pytest.param(b"RIFF\0\0\0\0WEBPVP8 " + b"\xff" * 40, id="webp-magic-then-noise"),
        pytest.param(struct.pack(">I", 16) + b"ftypheic\0\0\0\0" + b"\0" * 64, id="heic-empty"),
    ],
)
def test_corrupt_files_are_422(data: bytes) -> None:
    error = reject(data)
    assert REFUSAL_ANSWERS[error.problem] == (422, "invalid_image")


def test_corrupt_png_pixel_data_is_422() -> None:
    data = bytearray(encode(photo(), "PNG"))
    idat = data.index(b"IDAT")
    data[idat + 200 : idat + 400] = b"\xaa" * 200
    assert REFUSAL_ANSWERS[reject(bytes(data)).problem].status == 422


# Colour modes


def test_cmyk_jpeg_becomes_rgb_with_the_right_colours() -> None:
    original = photo()
    result = validate_image(
        encode(original.convert("CMYK"), "JPEG", quality=95), max_bytes=MAX_BYTES
    )
    assert result.image.mode == "RGB"
    assert result.media_type == "image/jpeg"
    assert mean_difference(result.image, original) < 8


def test_sixteen_bit_greyscale_png_is_scaled_not_clipped() -> None:
    grey = photo().convert("L")
    sixteen = Image.fromarray(np.asarray(grey).astype(np.uint16) * 257)
    data = encode(sixteen, "PNG")
    assert Image.open(BytesIO(data)).mode.startswith("I;16")
    result = validate_image(data, max_bytes=MAX_BYTES)
    assert result.image.mode == "RGB"
    channel = pixels(result)[..., 0]
    assert abs(channel.mean() - np.asarray(grey).mean()) < 1
    assert np.array_equal(channel, np.asarray(grey))


def test_sixteen_bit_rgb_png_keeps_its_brightness() -> None:
    rgb8 = np.asarray(photo(), dtype=np.uint16)
    rgb16 = (rgb8 * 257).astype(">u2")
    rows = b"".join(b"\0" + row.tobytes() for row in rgb16)
    height, width = rgb8.shape[:2]
    result = validate_image(png_bytes(width, height, 16, 2, rows), max_bytes=MAX_BYTES)
    assert result.image.mode == "RGB"
    assert abs(pixels(result).mean() - rgb8.mean()) < 1


def test_transparent_png_keeps_alpha() -> None:
    rgba = photo().convert("RGBA")
    alpha = Image.new("L", rgba.size, 255)
    alpha.paste(0, (0, 0, 64, 64))
    rgba.putalpha(alpha)
    result = validate_image(encode(rgba, "PNG"), max_bytes=MAX_BYTES)
    assert result.image.mode == "RGBA"
    assert (result.media_type, result.extension) == ("image/png", ".png")
    reencoded = Image.open(BytesIO(result.data))
    assert reencoded.format == "PNG"
    assert reencoded.mode == "RGBA"
    assert reencoded.getpixel((10, 10))[3] == 0
    assert reencoded.getpixel((100, 100))[3] == 255
    assert_no_metadata(result.data)


def test_opaque_png_with_alpha_channel_becomes_rgb() -> None:
    result = validate_image(encode(photo().convert("RGBA"), "PNG"), max_bytes=MAX_BYTES)
    assert result.image.mode == "RGB"
    assert result.media_type == "image/jpeg"


@pytest.mark.parametrize(
    ("image", "mode"),
    [
        pytest.param(photo().convert("L"), "RGB", id="L"),
        pytest.param(photo().convert("1"), "RGB", id="1"),
        pytest.param(photo().convert("P"), "RGB", id="P"),
        pytest.param(photo().convert("LA"), "RGB", id="opaque-LA"),
    ],
)
def test_other_png_modes_become_rgb(image: Image.Image, mode: str) -> None:
    assert validate_image(encode(image, "PNG"), max_bytes=MAX_BYTES).image.mode == mode


def test_palette_png_with_transparent_index_becomes_rgba() -> None:
    palette = photo().convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    index = palette.getpixel((0, 0))
    result = validate_image(encode(palette, "PNG", transparency=index), max_bytes=MAX_BYTES)
    assert result.image.mode == "RGBA"
    assert result.image.getpixel((0, 0))[3] == 0


def test_transparent_webp_keeps_alpha() -> None:
    rgba = photo().convert("RGBA")
    rgba.putpixel((5, 5), (0, 0, 0, 0))
    result = validate_image(encode(rgba, "WEBP", lossless=True), max_bytes=MAX_BYTES)
    assert result.image.mode == "RGBA"
    assert result.media_type == "image/png"


# Orientation and metadata


def test_orientation_is_applied_and_all_metadata_is_stripped() -> None:
    stored = photo((64, 48))
    stored.paste((255, 0, 0), (0, 0, 8, 8))  # marker in the stored top-left corner
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6  # display rotated 90 degrees clockwise
    exif[ExifTags.Base.Make] = "Phone"
    exif[ExifTags.IFD.GPSInfo] = {1: "N", 2: (52.0, 22.0, 1.5), 3: "E", 4: (4.0, 53.0, 0.0)}
    data = encode(stored, "JPEG", quality=95, exif=exif, comment=b"secret comment")
    assert Image.open(BytesIO(data)).getexif().get_ifd(ExifTags.IFD.GPSInfo)

    result = validate_image(data, max_bytes=MAX_BYTES)

    assert (result.width, result.height) == (48, 64)
    # Rotating clockwise takes the top-left corner to the top-right.
    red, green, blue = result.image.getpixel((result.width - 4, 4))
    assert red > 200 and green < 60 and blue < 60
    assert result.image.getpixel((4, 4)) != result.image.getpixel((result.width - 4, 4))
    assert not result.image.getexif()
    assert b"secret comment" not in result.data
    assert b"Phone" not in result.data
    assert_no_metadata(result.data)


def marked_photo() -> Image.Image:
    """A photo with a red marker in its stored top-left corner."""
    stored = photo((64, 48))
    stored.paste((255, 0, 0), (0, 0, 8, 8))
    return stored


def tiff_exif(order: bytes, orientation: int, *, claimed_entries: int = 1) -> bytes:
    """An EXIF block by hand: IFD0 with a single Orientation entry, maybe claiming more."""
    fmt = "<" if order == b"II" else ">"
    header = order + struct.pack(fmt + "HI", 42, 8)
    entry = struct.pack(fmt + "HHIHH", 0x0112, 3, 1, orientation, 0)
    return b"Exif\x00\x00" + header + struct.pack(fmt + "H", claimed_entries) + entry


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_orientation_matches_pillows_exif_transpose(orientation: int) -> None:
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = orientation
    data = encode(marked_photo(), "JPEG", exif=exif)
    expected = ImageOps.exif_transpose(Image.open(BytesIO(data)))
    result = validate_image(data, max_bytes=MAX_BYTES)
    assert result.image.size == expected.size
    assert np.array_equal(np.asarray(result.image), np.asarray(expected.convert("RGB")))


@pytest.mark.parametrize(("fmt", "params"), [("PNG", {}), ("WEBP", {"lossless": True})])
def test_orientation_in_png_and_webp(fmt: str, params: dict[str, Any]) -> None:
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6
    result = validate_image(encode(marked_photo(), fmt, exif=exif, **params), max_bytes=MAX_BYTES)
    assert result.image.size == (48, 64)
    assert result.image.getpixel((44, 4)) == (255, 0, 0)


def test_big_endian_exif_orientation() -> None:
    data = encode(marked_photo(), "JPEG", exif=tiff_exif(b"MM", 8))
    result = validate_image(data, max_bytes=MAX_BYTES)
    # Orientation 8 is turned upright counter-clockwise: top-left goes to bottom-left.
    assert result.image.size == (48, 64)
    red, green, blue = result.image.getpixel((4, 60))
    assert red > 200 and green < 60 and blue < 60


@pytest.mark.parametrize(
    "exif",
    [
        pytest.param(tiff_exif(b"II", 6, claimed_entries=50), id="ifd-runs-past-the-end"),
        pytest.param(b"Exif\x00\x00II*\x00\xff\xff\xff\x00", id="ifd-offset-out-of-range"),
        pytest.param(b"Exif\x00\x00garbage", id="no-byte-order"),
        pytest.param(tiff_exif(b"II", 99), id="orientation-out-of-range"),
    ],
)
def test_damaged_exif_does_not_reject_the_photo(exif: bytes) -> None:
    # Pillow warns about such EXIF (an error under this test configuration) if it parses it.
    data = encode(marked_photo(), "JPEG", exif=exif)
    result = validate_image(data, max_bytes=MAX_BYTES)
    assert result.image.mode == "RGB"
    assert_no_metadata(result.data)


def test_damaged_exif_still_gives_the_orientation_it_can_read() -> None:
    data = encode(marked_photo(), "JPEG", exif=tiff_exif(b"II", 6, claimed_entries=50))
    assert validate_image(data, max_bytes=MAX_BYTES).image.size == (48, 64)


def test_icc_profile_and_xmp_are_stripped() -> None:
    icc = b"\0" * 128  # content does not matter; it must not survive
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF/></x:xmpmeta>'
    data = encode(photo(), "JPEG", icc_profile=icc, xmp=xmp)
    assert {"icc_profile", "xmp"} <= set(Image.open(BytesIO(data)).info)
    result = validate_image(data, max_bytes=MAX_BYTES)
    assert_no_metadata(result.data)
    assert b"adobe:ns:meta" not in result.data


def test_png_text_and_exif_are_stripped() -> None:
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "Phone"
    rgba = photo().convert("RGBA")
    rgba.putpixel((0, 0), (0, 0, 0, 0))
    data = encode(rgba, "PNG", exif=exif, icc_profile=b"\0" * 128)
    result = validate_image(data, max_bytes=MAX_BYTES)
    assert_no_metadata(result.data)
    assert b"Phone" not in result.data


# Animations


def frames(colours: list[tuple[int, int, int]]) -> list[Image.Image]:
    return [Image.new("RGB", (32, 32), colour) for colour in colours]


@pytest.mark.parametrize(("fmt", "source_format"), [("WEBP", "webp"), ("PNG", "png")])
def test_animation_gives_its_first_frame(fmt: str, source_format: str) -> None:
    first, *rest = frames([(255, 0, 0), (0, 255, 0), (0, 0, 255)])
    data = encode(first, fmt, save_all=True, append_images=rest, duration=100, lossless=True)
    assert getattr(Image.open(BytesIO(data)), "n_frames", 1) == 3
    result = validate_image(data, max_bytes=MAX_BYTES)
    assert result.source_format == source_format
    assert np.abs(pixels(result) - np.array([255, 0, 0])).max() < 8
    assert Image.open(BytesIO(result.data)).format == "JPEG"
