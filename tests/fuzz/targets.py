"""Fuzz targets: each takes raw bytes and checks that only the documented outcomes happen.

A target returns quietly when the code under test either succeeded with a result that holds
its promises or refused the input with its own error type. Anything else (another exception,
an `AssertionError` from a broken promise) propagates, and the fuzzer records the input.
The same functions replay the corpus in the test suite and run under atheris by hand.
"""

from __future__ import annotations

import random
import shutil
import tempfile
import zlib
from collections.abc import AsyncIterator, Callable, Coroutine
from functools import cache
from io import BytesIO
from pathlib import Path
from typing import Any, TypeVar

from PIL import Image

from forkable.generations.uploads import UploadError, validate_image
from forkable.manifest import MANIFEST_NAME, Catalog, ManifestError, SiteSource, load_site
from forkable.providers.catalog import build_catalog
from forkable.web.errors import REFUSAL_ANSWERS
from forkable.web.multipart import ENVELOPE_BYTES, read_image_upload

T = TypeVar("T")

# Small caps keep each input cheap while every limit can still be reached by a mutation.
MULTIPART_MAX_FILE_BYTES = 4096
MULTIPART_MAX_TEXT_BYTES = 1024
UPLOAD_MAX_BYTES = 1_000_000
UPLOAD_MAX_PIXELS = 1_000_000

MULTIPART_OUTCOMES = {(413, "too_large"), (422, "invalid_request")}
UPLOAD_OUTCOMES = {(413, "too_large"), (415, "unsupported_media_type"), (422, "invalid_image")}


# The multipart parser


def split_multipart_input(data: bytes) -> tuple[str, bytes]:
    """A corpus file is the Content-Type header value, a newline, then the request body."""
    content_type, _, body = data.partition(b"\n")
    # Starlette hands header values over decoded as latin-1, so every byte is possible.
    return content_type.decode("latin-1"), body


def chunk_sizes(data: bytes) -> tuple[list[int], bool]:
    """Chunk sizes for the body and whether Content-Length is sent, derived from the input.

    Deterministic per input, so a crash replays; varied across inputs, so delimiters and
    headers straddle chunk edges in every possible place.
    """
    rng = random.Random(zlib.crc32(data))  # a reproducible split, not a secret
    sizes = [rng.choice((1, 2, 3, 7, 64, 1000, 65536)) for _ in range(64)]
    return sizes, rng.random() < 0.5


class CountingStream:
    """Yields the body in the given chunk sizes and counts the bytes the reader pulled."""

    def __init__(self, body: bytes, sizes: list[int]) -> None:
        self._body = body
        self._sizes = sizes
        self.pulled = 0
        self.largest_chunk = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        position = 0
        turn = 0
        while position < len(self._body):
            size = self._sizes[turn % len(self._sizes)]
            chunk = self._body[position : position + size]
            position += size
            turn += 1
            self.pulled += len(chunk)
            self.largest_chunk = max(self.largest_chunk, len(chunk))
            yield chunk


def run_without_loop(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never waits on I/O to completion, without an event loop."""
    try:
        coroutine.send(None)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
    coroutine.close()
    raise AssertionError("the reader waited on something other than the body stream")


def check_multipart(data: bytes) -> None:
    """`read_image_upload` returns a well-formed upload or raises a 413/422 `UploadError`."""
    content_type, body = split_multipart_input(data)
    sizes, send_length = chunk_sizes(data)
    stream = CountingStream(body, sizes)
    try:
        upload = run_without_loop(
            read_image_upload(
                stream.__aiter__(),
                content_type,
                max_file_bytes=MULTIPART_MAX_FILE_BYTES,
                max_text_bytes=MULTIPART_MAX_TEXT_BYTES,
                content_length=len(body) if send_length else None,
            )
        )
    except UploadError as error:
        assert REFUSAL_ANSWERS[error.problem] in MULTIPART_OUTCOMES, error
        assert error.message and error.message == str(error)
        return
    finally:
        # The byte cap holds while reading: at most one chunk past the limit is pulled.
        assert stream.pulled <= MULTIPART_MAX_FILE_BYTES + ENVELOPE_BYTES + stream.largest_chunk
    assert len(upload.file_bytes) <= MULTIPART_MAX_FILE_BYTES
    assert upload.file_bytes in body
    assert set(upload.fields) <= {"style"}
    for value in upload.fields.values():
        assert len(value.encode()) <= MULTIPART_MAX_TEXT_BYTES
    if upload.filename is not None:
        assert "/" not in upload.filename and "\\" not in upload.filename


# The upload checks


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def with_png_checksums(data: bytes) -> bytes:
    """The PNG with each chunk's CRC made right, as a hostile client would send it.

    Pillow refuses a chunk whose CRC is wrong, so without this nearly every mutation of a PNG
    would stop there and the decoder behind it would go untested.
    """
    fixed = bytearray(data[:8])
    position = 8
    while position + 12 <= len(data):
        end = position + 8 + int.from_bytes(data[position : position + 4], "big")
        if end + 4 > len(data):
            break
        fixed += data[position:end] + zlib.crc32(data[position + 4 : end]).to_bytes(4, "big")
        position = end + 4
    return bytes(fixed + data[position:])


def check_upload(data: bytes) -> None:
    """`validate_image` returns an upright, clean RGB(A) image or raises its `UploadError`."""
    if data.startswith(PNG_SIGNATURE) and zlib.crc32(data) % 2:
        data = with_png_checksums(data)  # for half the PNGs; the others test the CRC check
    try:
        result = validate_image(data, max_bytes=UPLOAD_MAX_BYTES, max_pixels=UPLOAD_MAX_PIXELS)
    except UploadError as error:
        assert REFUSAL_ANSWERS[error.problem] in UPLOAD_OUTCOMES, error
        assert error.message and error.message == str(error)
        return
    assert result.source_format in {"jpeg", "png", "webp", "heic"}
    assert (result.width, result.height) == result.image.size
    assert 16 <= result.width and 16 <= result.height
    assert result.width * result.height <= UPLOAD_MAX_PIXELS
    assert result.image.mode in {"RGB", "RGBA"}
    assert not result.image.info, result.image.info
    expected = ("image/png", ".png") if result.image.mode == "RGBA" else ("image/jpeg", ".jpg")
    assert (result.media_type, result.extension) == expected
    with Image.open(BytesIO(result.data)) as reencoded:
        assert reencoded.size == result.image.size
        assert not reencoded.getexif()


# The manifest loader


@cache
def manifest_catalog() -> Catalog:
    """The installed providers and filters, so filter parameters are checked too."""
    return build_catalog()


@cache
def manifest_folder() -> Path:
    """One scratch site folder, reused for every input and removed when the process exits."""
    folder = Path(tempfile.mkdtemp(prefix="forkable-fuzz-manifest-"))
    import atexit

    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def check_manifest(data: bytes) -> None:
    """`load_site` returns a site or raises `ManifestError` with `PATH:LINE: ...` problems."""
    folder = manifest_folder()
    file = folder / MANIFEST_NAME
    file.write_bytes(data)
    try:
        source = load_site(folder, manifest_catalog())
    except ManifestError as error:
        assert error.problems, "a ManifestError without problems"
        # TOML counts lines by "\n" only; a problem never points past the last line.
        last_line = data.count(b"\n") + 1
        for problem in error.problems:
            assert problem.file == file, problem
            assert 1 <= problem.line <= last_line, (problem, last_line)
            assert problem.message, problem
            assert str(problem).startswith(f"{file}:{problem.line}: "), problem
        return
    assert isinstance(source, SiteSource)
    assert source.manifest_path == file.resolve()


TARGETS: dict[str, Callable[[bytes], None]] = {
    "multipart": check_multipart,
    "upload": check_upload,
    "manifest": check_manifest,
}
