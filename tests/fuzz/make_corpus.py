"""Write the seed corpus under tests/fuzz/corpus/: `python -m tests.fuzz.make_corpus`.

Seeds are small on purpose (the fuzzer mutates them, and the repository keeps them): photos
are 64x48 crops of scikit-image's public-domain astronaut picture. The generator only writes
the names it knows; `regression-*` seeds, added by hand from crashes, are left alone.
"""

from __future__ import annotations

import struct
import sys
import zlib
from collections.abc import Callable
from io import BytesIO
from pathlib import Path
from typing import Any

import skimage.data
from PIL import ExifTags, Image

CORPUS = Path(__file__).resolve().parent / "corpus"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


# Images


def photo(size: tuple[int, int] = (64, 48)) -> Image.Image:
    """scikit-image's astronaut (NASA, public domain), scaled down, with a marked corner."""
    image = Image.fromarray(skimage.data.astronaut()).resize(size)
    image.paste((255, 0, 0), (0, 0, 8, 8))
    return image


def encode(image: Image.Image, fmt: str, **params: Any) -> bytes:
    out = BytesIO()
    image.save(out, fmt, **params)
    return out.getvalue()


def orientation_exif(orientation: int) -> Image.Exif:
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = orientation
    exif[ExifTags.Base.Make] = "Phone"
    return exif


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_by_hand(width: int, height: int, bit_depth: int, colour_type: int, rows: bytes) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", zlib.compress(rows, 9))
        + png_chunk(b"IEND", b"")
    )


def corrupted(data: bytes, start: int, length: int) -> bytes:
    """The file with `length` bytes from `start` overwritten, as a bad disk or transfer would."""
    damaged = bytearray(data)
    damaged[start : start + length] = bytes((b ^ 0x5A) for b in damaged[start : start + length])
    return bytes(damaged)


def upload_seeds() -> dict[str, bytes]:
    base = photo()
    rgba = base.convert("RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize(base.size))
    palette = base.convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    palette.info["transparency"] = 0
    grey16 = Image.fromarray(skimage.data.camera()[:384:8, :512:8].astype("uint16") * 257)
    jpeg = encode(base, "JPEG", quality=75)
    png = encode(base, "PNG")
    webp = encode(base, "WEBP", quality=75)
    heic = encode(base, "HEIF", quality=50)
    frames = [photo(), photo().transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
    vp8x = b"VP8X" + struct.pack("<I", 10) + b"\0\0\0\0" + (16383).to_bytes(3, "little") * 2
    jpeg_sof = jpeg.index(b"\xff\xc0")
    progressive = encode(base, "JPEG", quality=60, progressive=True)
    empty_scan = b"\xff\xda" + struct.pack(">HB", 8, 1) + bytes([1, 0x00, 1, 63, 0x00])
    return {
        "jpeg.jpg": jpeg,
        "jpeg-exif-orientation-6.jpg": encode(base, "JPEG", quality=75, exif=orientation_exif(6)),
        "jpeg-exif-big-endian-8.jpg": encode(
            base,
            "JPEG",
            quality=75,
            exif=b"Exif\x00\x00MM\x00\x2a\x00\x00\x00\x08\x00\x01"
            + struct.pack(">HHIHH", 0x0112, 3, 1, 8, 0),
        ),
        "jpeg-progressive-comment.jpg": encode(
            base, "JPEG", quality=60, progressive=True, comment=b"secret"
        ),
        "jpeg-grey.jpg": encode(base.convert("L"), "JPEG", quality=60),
        "jpeg-cmyk.jpg": encode(base.convert("CMYK"), "JPEG", quality=60),
        "jpeg-truncated.jpg": jpeg[: len(jpeg) // 2],
        "jpeg-corrupted.jpg": corrupted(jpeg, len(jpeg) // 2, 64),
        # The frame header claims 60000x60000; the scan is the 64x48 one.
        "jpeg-huge-frame.jpg": jpeg[: jpeg_sof + 5]
        + struct.pack(">HH", 60000, 60000)
        + jpeg[jpeg_sof + 9 :],
        # Each empty scan costs a pass over the whole image; each segment a step in Python.
        "jpeg-too-many-scans.jpg": progressive[:-2] + empty_scan * 120 + progressive[-2:],
        "jpeg-too-many-header-segments.jpg": jpeg[:2] + b"\xff\xe0\x00\x02" * 1200 + jpeg[2:],
        "png.png": png,
        "png-rgba.png": encode(rgba, "PNG"),
        "png-palette-transparent.png": encode(palette, "PNG"),
        "png-grey-16bit.png": encode(grey16, "PNG"),
        "png-exif-orientation-3.png": encode(base, "PNG", exif=orientation_exif(3)),
        "png-animated.png": encode(frames[0], "PNG", save_all=True, append_images=frames[1:]),
        "png-truncated.png": png[: len(png) // 2],
        "png-corrupted-idat.png": corrupted(png, png.index(b"IDAT") + 100, 100),
        "png-bomb-header.png": png_by_hand(30_000, 30_000, 8, 2, b"\0" * 4),
        "png-tiny-8x8.png": encode(base.resize((8, 8)), "PNG"),
        "webp.webp": webp,
        "webp-lossless-alpha.webp": encode(rgba, "WEBP", lossless=True),
        "webp-exif-orientation-6.webp": encode(
            base, "WEBP", quality=50, exif=orientation_exif(6).tobytes()
        ),
        "webp-animated.webp": encode(
            frames[0], "WEBP", quality=30, save_all=True, append_images=frames[1:]
        ),
        "webp-truncated.webp": webp[: len(webp) // 2],
        "webp-vp8x-bomb-header.webp": b"RIFF" + struct.pack("<I", 4 + len(vp8x)) + b"WEBP" + vp8x,
        "heic.heic": heic,
        "heic-exif-orientation-6.heic": encode(
            base, "HEIF", quality=50, exif=orientation_exif(6).tobytes()
        ),
        "heic-truncated.heic": heic[: len(heic) // 2],
        "heic-empty-ftyp.heic": struct.pack(">I", 16) + b"ftypheic\0\0\0\0" + b"\0" * 32,
        # AVIF is ISO-BMFF too, but not an accepted format: it must be a 415.
        "avif.avif": encode(base, "AVIF", quality=30),
        "gif.gif": encode(base, "GIF"),
        "text.txt": b"This is not an image.\n",
    }


# Multipart bodies: first line the Content-Type value, then the body.

BOUNDARY = "----formboundaryX7a9"


def form(*parts: bytes, boundary: str = BOUNDARY, end: bytes = b"--\r\n") -> bytes:
    return b"".join(parts) + f"--{boundary}".encode() + end


def field(
    name: str,
    content: bytes,
    *,
    filename: str | None = None,
    headers: str = "",
    boundary: str = BOUNDARY,
    newline: str = "\r\n",
) -> bytes:
    disposition = f'form-data; name="{name}"'
    if filename is not None:
        disposition += f'; filename="{filename}"'
    head = f"Content-Disposition: {disposition}{newline}{headers}"
    return f"--{boundary}{newline}{head}{newline}".encode() + content + newline.encode()


def request(body: bytes, content_type: str = f"multipart/form-data; boundary={BOUNDARY}") -> bytes:
    return content_type.encode("latin-1") + b"\n" + body


def multipart_seeds() -> dict[str, bytes]:
    image = encode(photo((32, 24)), "JPEG", quality=40)
    jpeg = field("image", image, filename="photo.jpg", headers="Content-Type: image/jpeg\r\n")
    odd = "'()+_,-./:=? 0aZ"
    long_boundary = "b" * 70
    return {
        "image-and-style.txt": request(form(jpeg, field("style", b"kids"))),
        "image-only.txt": request(form(jpeg)),
        "style-first.txt": request(form(field("style", b"detailed"), jpeg)),
        "quoted-boundary-with-odd-characters.txt": request(
            form(field("image", b"\xff\xd8\xff", filename="a.jpg", boundary=odd), boundary=odd),
            f'multipart/form-data; boundary="{odd}"',
        ),
        "seventy-character-boundary.txt": request(
            form(
                field("image", b"x" * 32, filename="a", boundary=long_boundary),
                boundary=long_boundary,
            ),
            f"multipart/form-data; boundary={long_boundary}",
        ),
        "boundary-too-long.txt": request(form(jpeg), f"multipart/form-data; boundary={'c' * 71}"),
        "boundary-missing.txt": request(form(jpeg), "multipart/form-data"),
        "boundary-empty.txt": request(form(jpeg), 'multipart/form-data; boundary=""'),
        "charset-and-case.txt": request(
            form(jpeg), f"Multipart/Form-Data; charset=utf-8; BOUNDARY={BOUNDARY}"
        ),
        "not-multipart.txt": request(b"image=abc", "application/x-www-form-urlencoded"),
        "non-latin-content-type.txt": request(
            form(jpeg), f"multipart/form-data; boundary={BOUNDARY}\u00ff\u00e9"
        ),
        "bare-newlines.txt": request(
            form(field("image", b"abc", filename="a.jpg", newline="\n"), end=b"--\n")
        ),
        "preamble-and-epilogue.txt": request(
            b"preamble text\r\n" + form(jpeg, end=b"--\r\nepilogue that is never read")
        ),
        "delimiter-lookalikes-in-file.txt": request(
            form(
                field(
                    "image",
                    b"\xff\xd8\r\n--" + BOUNDARY[:-1].encode() + b"\r\n\r\n-" + bytes(range(256)),
                    filename="x.jpg",
                )
            )
        ),
        "path-in-filename.txt": request(
            form(field("image", b"abc", filename="C:\\Users\\me\\photos/../cat.jpg"))
        ),
        "utf8-names.txt": request(
            form(field("image", b"abc", filename="фото.jpg"), field("style", "café".encode()))
        ),
        "rfc2231-filename.txt": request(
            form(
                f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=image; "
                "filename*=UTF-8''caf%C3%A9.jpg\r\n\r\nabc\r\n".encode()
            )
        ),
        "header-case-and-extra-headers.txt": request(
            form(
                f'--{BOUNDARY}\r\ncontent-disposition: form-data; name="image"\r\n'
                "Content-Transfer-Encoding: binary\r\nX-Long: ".encode()
                + b"v" * 600
                + b"\r\n\r\nabc\r\n"
            )
        ),
        "no-content-disposition.txt": request(
            form(f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n\r\nabc\r\n".encode())
        ),
        "disposition-not-form-data.txt": request(
            form(
                f'--{BOUNDARY}\r\nContent-Disposition: attachment; name="image"\r\n\r\nabc\r\n'.encode()
            )
        ),
        "header-without-colon.txt": request(
            form(f"--{BOUNDARY}\r\nContent-Disposition form-data\r\n\r\nabc\r\n".encode())
        ),
        "unknown-field.txt": request(form(jpeg, field("admin", b"1"))),
        "image-twice.txt": request(form(jpeg, jpeg)),
        "style-twice.txt": request(form(jpeg, field("style", b"a"), field("style", b"b"))),
        "style-too-long.txt": request(form(jpeg, field("style", b"s" * 1100))),
        "style-not-utf8.txt": request(form(jpeg, field("style", b"\xff\xfe\xc3"))),
        "file-over-the-cap.txt": request(
            form(field("image", b"\xff\xd8\xff" + b"\0" * 4200, filename="big.jpg"))
        ),
        "no-image-field.txt": request(form(field("style", b"kids"))),
        "no-closing-boundary.txt": request(form(jpeg, end=b"")),
        "cut-in-part-headers.txt": request(
            f"--{BOUNDARY}\r\nContent-Disposition: form-da".encode()
        ),
        "empty-body.txt": request(b""),
        "garbage-after-boundary.txt": request(f"--{BOUNDARY}xyz\r\n".encode() + form(jpeg)),
        "header-too-long.txt": request(
            form(
                f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="image"; x="'.encode()
                + b"y" * 9000
                + b'"\r\n\r\nabc\r\n'
            )
        ),
    }


# Manifests: the examples, and one seed for each kind of mistake.


def manifest_seeds() -> dict[str, bytes]:
    base = (EXAMPLES / "coloringbook" / "site.toml").read_text(encoding="utf-8")

    def changed(old: str, new: str) -> bytes:
        assert old in base, old
        return base.replace(old, new, 1).encode()

    seeds = {
        f"example-{site.name}.toml": (site / "site.toml").read_bytes()
        for site in sorted(EXAMPLES.iterdir())
        if (site / "site.toml").is_file()
    }
    seeds |= {
        "minimal.toml": b'[site]\nid = "a"\nname = "A"\ntagline = "T"\ndomain = "a.example.com"\n'
        b'[transform]\nprompt = "p"\n[legal]\ncompany = "C"\ncontact_email = "c@example.com"\n',
        "wrong-type.toml": changed("signup_bonus = 3", 'signup_bonus = "three"'),
        "unknown-key.toml": changed("primary_color", "primary_colour"),
        "missing-key.toml": changed(
            'tagline = "Turn any photo into a printable coloring page"\n', ""
        ),
        "missing-table.toml": changed("[legal]", "[legal_notes]"),
        "bad-slug.toml": changed('id = "coloringbook"', 'id = "Coloring Book!"'),
        "bad-color.toml": changed('primary_color = "#ff6b6b"', 'primary_color = "red"'),
        "bad-domain.toml": changed('"coloringbook.example.com"', '"https://example.com:8000/x"'),
        "bad-email.toml": changed('"hello@example.com"', '"hello at example"'),
        "bad-currency.toml": changed('currency = "usd"', 'currency = "dollars"'),
        "bad-language.toml": changed('language = "en"', 'language = "English"'),
        "out-of-range.toml": changed("max_upload_mb = 10", "max_upload_mb = 5000"),
        "negative-price.toml": changed("price_cents = 499", "price_cents = -1"),
        "float-for-int.toml": changed("tokens = 20", "tokens = 20.5"),
        "huge-int.toml": changed("tokens = 20", "tokens = 99999999999999999999999999"),
        "nan-and-inf.toml": changed("daily_spend_cap_usd = 50", "daily_spend_cap_usd = nan"),
        "blank-name.toml": changed('name = "ColoringBook AI"', 'name = "   "'),
        "name-too-long.toml": changed('name = "ColoringBook AI"', f'name = "{"n" * 100}"'),
        "duplicate-style-ids.toml": changed('id = "detailed"', 'id = "kids"'),
        "duplicate-pack-ids.toml": changed('id = "family"', 'id = "starter"'),
        "asset-escapes-folder.toml": changed(
            'logo = "assets/logo.svg"', 'logo = "../../etc/passwd"'
        ),
        "asset-absolute.toml": changed('logo = "assets/logo.svg"', 'logo = "/etc/passwd"'),
        "asset-wrong-suffix.toml": changed('logo = "assets/logo.svg"', 'logo = "site.toml"'),
        "unknown-provider.toml": changed('provider = "gemini"', 'provider = "dall-e"'),
        "unknown-filter.toml": changed('fallback = "coloring_book"', 'fallback = "oil_paint"'),
        "bad-filter-params.toml": changed("line_thickness = 4", "line_thickness = -3"),
        "extreme-filter-params.toml": changed(
            "line_thickness = 4, detail = 0.3", "line_thickness = 1000000000, detail = 1e308"
        ),
        "local-without-filter.toml": changed('provider = "gemini"', 'provider = "local"').replace(
            b'fallback = "coloring_book"', b""
        ),
        "fallback-when-down-without-fallback.toml": changed(
            'fallback = "coloring_book"', "fallback_when_down = true"
        ),
        "table-defined-twice.toml": base.encode() + b'\n[site]\nid = "again"\n',
        "duplicate-key.toml": changed('language = "en"', 'language = "en"\nlanguage = "de"'),
        "unterminated-string.toml": changed('name = "ColoringBook AI"', 'name = "ColoringBook AI'),
        "unterminated-multiline.toml": base.encode() + b'\nextra = """never closed\n',
        "unclosed-header.toml": changed("[pricing]", "[pricing"),
        "not-utf8.toml": base.encode().replace(b"Example Ltd", b"Example \xff\xfe Ltd"),
        "utf8-bom.toml": b"\xef\xbb\xbf" + base.encode(),
        "crlf-line-endings.toml": base.replace("\n", "\r\n").encode(),
        "control-characters.toml": changed(
            'tagline = "Turn any photo into a printable coloring page"',
            'tagline = "Turn any photo\\ninto a page\\u0007"',
        ),
        "unicode-line-separators-in-comments.toml": changed(
            "# tokens granted on sign-up", "# tokens\u2028granted\u2029on\x85sign-up"
        ).replace(b"signup_bonus = 3", b'signup_bonus = "3"'),
        "dotted-and-quoted-keys.toml": changed(
            'primary_color = "#ff6b6b"', '"primary_color" = "#ff6b6b"\nsite.extra = 1'
        ),
        "inline-tables-and-arrays.toml": changed(
            "[limits]", "limits = { generations_per_minute = [1, [2, [3]]] }\n[limits_x]"
        ),
        "array-of-tables-misused.toml": changed("[[pricing.packs]]", "[[pricing]]"),
        "empty.toml": b"",
        "only-comments.toml": b"# nothing here\n# at all\n",
    }
    return seeds


WRITERS: dict[str, Callable[[], dict[str, bytes]]] = {
    "upload": upload_seeds,
    "multipart": multipart_seeds,
    "manifest": manifest_seeds,
}


def main() -> None:
    for target, seeds in WRITERS.items():
        folder = CORPUS / target
        folder.mkdir(parents=True, exist_ok=True)
        for name, data in seeds().items():
            (folder / name).write_bytes(data)
        total = sum(path.stat().st_size for path in folder.iterdir())
        sys.stdout.write(f"{folder}: {len(list(folder.iterdir()))} seeds, {total:,} bytes\n")


if __name__ == "__main__":
    main()
