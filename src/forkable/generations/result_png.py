"""The result image as PNG bytes; black-and-white line art as a 1-bit PNG, written directly.

Coloring pages are pure black and white. A 1-bit greyscale PNG holds exactly those pixels at
an eighth of the raw size. Pillow packs the bits (its "1" mode is 8 pixels a byte, rows padded
to a whole byte, first pixel in the high bit: the PNG layout), and the file format around the
compressed rows is three small chunks (PNG specification, sections 5 and 11), written here
because Pillow's PNG writer would compress at its own level.
"""

from __future__ import annotations

import struct
import zlib

from PIL import Image

from forkable.image_bytes import encode_image

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# zlib level 3: within 15% of level 6's size on line art, in about a third of its time.
COMPRESS_LEVEL = 3


def encode_result_png(image: Image.Image) -> bytes:
    """PNG bytes for a result: 1-bit when every pixel is black or white, else as it is."""
    if image.mode == "L" and _black_and_white(image):
        return line_art_png(image)
    return encode_image(image, "PNG", compress_level=COMPRESS_LEVEL)


def _black_and_white(image: Image.Image) -> bool:
    """No pixel of an "L" image between black (0) and white (255)."""
    return not any(image.histogram()[1:255])


def line_art_png(image: Image.Image) -> bytes:
    """A 1-bit greyscale PNG of an "L" image whose pixels are 0 (black) or 255 (white)."""
    width, height = image.size
    packed = image.convert("1", dither=Image.Dither.NONE).tobytes()
    stride = (width + 7) // 8
    # Each row: filter type 0 (none), then its packed pixels.
    rows = b"".join(
        b"\0" + packed[start : start + stride] for start in range(0, len(packed), stride)
    )
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1 bit, greyscale
    return b"".join(
        (
            PNG_SIGNATURE,
            _chunk(b"IHDR", header),
            _chunk(b"IDAT", zlib.compress(rows, COMPRESS_LEVEL)),
            _chunk(b"IEND", b""),
        )
    )


def _chunk(kind: bytes, body: bytes) -> bytes:
    crc = zlib.crc32(body, zlib.crc32(kind))
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)
