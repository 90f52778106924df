"""Read a multipart image upload from a request stream, enforcing the byte cap as it arrives."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from forkable.generations.uploads import UploadError, UploadProblem

if TYPE_CHECKING:
    # Only defined for type checkers: python-multipart declares it under TYPE_CHECKING.
    from python_multipart.multipart import MultipartCallbacks

# Room for boundaries, part headers and the small text fields around the file.
ENVELOPE_BYTES = 64 * 1024

# RFC 2046 section 5.1.1: 1 to 70 characters from this set, not ending in a space.
_BOUNDARY = re.compile(r"[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]")


@dataclass(frozen=True)
class ParsedUpload:
    """The uploaded file and the small text fields sent with it."""

    file_bytes: bytes
    filename: str | None
    fields: dict[str, str]


async def read_image_upload(
    chunks: AsyncIterator[bytes],
    content_type: str | None,
    *,
    max_file_bytes: int,
    file_field: str = "image",
    text_fields: frozenset[str] = frozenset({"style"}),
    max_text_bytes: int = 1024,
    content_length: int | None = None,
) -> ParsedUpload:
    """Parse a multipart/form-data body, refusing it as soon as it breaks a limit."""
    max_body_bytes = max_file_bytes + ENVELOPE_BYTES
    if content_length is not None and content_length > max_body_bytes:
        raise UploadError.too_large(max_file_bytes)
    boundary = _boundary(content_type)
    collector = _PartCollector(file_field, text_fields, max_file_bytes, max_text_bytes)
    parser = MultipartParser(boundary, collector.callbacks())
    received = 0
    async for chunk in chunks:
        received += len(chunk)
        if received > max_body_bytes:
            # Parts are capped one by one; this also catches what the parser skips or
            # keeps outside them (padding before the first boundary, part headers).
            raise UploadError.too_large(max_file_bytes)
        _write(parser, chunk)
        if collector.finished:
            break  # anything after the closing boundary is epilogue; leave it unread
    parser.finalize()
    return collector.result()


def _boundary(content_type: str | None) -> bytes:
    """The boundary of a multipart/form-data Content-Type, or a 422."""
    try:
        media_type, options = parse_options_header(content_type)
    except ValueError as exc:  # non-latin-1 characters in the header
        raise _invalid_request("Send the image as multipart/form-data.") from exc
    if media_type != b"multipart/form-data":
        raise _invalid_request("Send the image as multipart/form-data.")
    boundary = options.get(b"boundary", b"")
    if not _BOUNDARY.fullmatch(boundary.decode("latin-1")):
        raise _invalid_request("The multipart/form-data Content-Type has no valid boundary.")
    return boundary


def _write(parser: MultipartParser, chunk: bytes) -> None:
    """Feed one chunk, turning the parser's syntax errors into a 422."""
    try:
        parser.write(chunk)
    except FormParserError as exc:
        raise _malformed() from exc


class _PartCollector:
    """Callbacks for `MultipartParser` that keep the file and the allowed text fields."""

    def __init__(
        self, file_field: str, text_fields: frozenset[str], max_file_bytes: int, max_text_bytes: int
    ) -> None:
        self._file_field = file_field
        self._text_fields = text_fields
        self._max_file_bytes = max_file_bytes
        self._max_text_bytes = max_text_bytes
        self._header_name = bytearray()
        self._header_value = bytearray()
        self._disposition: bytes | None = None
        self._name = ""
        self._buffer = bytearray()
        self._file: bytes | None = None
        self._filename: str | None = None
        self._fields: dict[str, str] = {}
        self.finished = False

    def callbacks(self) -> MultipartCallbacks:
        return {
            "on_part_begin": self._on_part_begin,
            "on_header_field": self._on_header_field,
            "on_header_value": self._on_header_value,
            "on_header_end": self._on_header_end,
            "on_headers_finished": self._on_headers_finished,
            "on_part_data": self._on_part_data,
            "on_part_end": self._on_part_end,
            "on_end": self._on_end,
        }

    def result(self) -> ParsedUpload:
        if not self.finished:
            raise _invalid_request("The upload ended before it was complete.")
        if self._file is None:
            raise _invalid_request(f"The form has no {self._file_field!r} file.")
        return ParsedUpload(self._file, self._filename, dict(self._fields))

    def _on_part_begin(self) -> None:
        self._disposition = None
        self._name = ""
        self._buffer = bytearray()

    # Header names and values can arrive in pieces when they straddle two chunks; the
    # parser caps their size (python-multipart's max_header_size), so accumulating is safe.
    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _on_header_end(self) -> None:
        if self._header_name.lower() == b"content-disposition":
            self._disposition = bytes(self._header_value)
        self._header_name.clear()
        self._header_value.clear()

    def _on_headers_finished(self) -> None:
        name, filename = _parse_disposition(self._disposition)
        if name == self._file_field:
            if self._file is not None:
                raise _invalid_request("Send only one image.")
            self._filename = filename
        elif name in self._text_fields:
            if name in self._fields:
                raise _invalid_request(f"The field {name!r} was sent twice.")
        else:
            allowed = ", ".join(
                repr(field) for field in (self._file_field, *sorted(self._text_fields))
            )
            raise _invalid_request(f"Unexpected form field {name[:64]!r}; send only {allowed}.")
        self._name = name

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        is_file = self._name == self._file_field
        limit = self._max_file_bytes if is_file else self._max_text_bytes
        if len(self._buffer) + (end - start) > limit:
            if is_file:
                raise UploadError.too_large(self._max_file_bytes)
            raise _invalid_request(f"The field {self._name!r} is too long.")
        self._buffer += data[start:end]

    def _on_part_end(self) -> None:
        if self._name == self._file_field:
            self._file = bytes(self._buffer)
        else:
            self._fields[self._name] = _decode_text(self._name, self._buffer)
        self._buffer = bytearray()

    def _on_end(self) -> None:
        self.finished = True


def _parse_disposition(value: bytes | None) -> tuple[str, str | None]:
    """The field name and file name of a `Content-Disposition: form-data` part header."""
    if value is None:
        raise _invalid_request("A part of the form has no Content-Disposition header.")
    disposition, options = parse_options_header(value.decode("latin-1"))
    if disposition != b"form-data" or b"name" not in options:
        raise _invalid_request("A part of the form is not a named form-data field.")
    # Browsers send UTF-8 names unescaped; the header itself was read as latin-1.
    name = options[b"name"].decode("utf-8", "replace")
    raw_filename = options.get(b"filename")
    if raw_filename is None:
        return name, None
    filename = raw_filename.decode("utf-8", "replace")
    # Only the last path component: some clients send a full local path.
    return name, re.split(r"[/\\]", filename)[-1]


def _decode_text(name: str, value: bytearray) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _invalid_request(f"The field {name!r} is not valid UTF-8 text.") from exc


def _malformed() -> UploadError:
    return _invalid_request("The upload is not well-formed multipart/form-data.")


def _invalid_request(message: str) -> UploadError:
    return UploadError(UploadProblem.INVALID_FORM, message)
