"""The streaming multipart reader: limits while reading, strict parsing, chunk boundaries."""

from __future__ import annotations

from collections.abc import AsyncIterator, Coroutine
from typing import Any, TypeVar

import pytest
from tests.serving import run_async

from forkable.generations.uploads import UploadError
from forkable.web.errors import REFUSAL_ANSWERS
from forkable.web.multipart import ENVELOPE_BYTES, ParsedUpload, read_image_upload

T = TypeVar("T")
BOUNDARY = "----formboundaryX7a9"
CONTENT_TYPE = f"multipart/form-data; boundary={BOUNDARY}"
# File bytes that look like the start of a delimiter without being one.
IMAGE = (
    b"\xff\xd8\xff\xe0" + b"\r\n--" + BOUNDARY[:-1].encode() + b"\r\n\r\n-" + bytes(range(256)) * 4
)


def part(name: str, content: bytes, *, filename: str | None = None, headers: str = "") -> bytes:
    disposition = f'form-data; name="{name}"'
    if filename is not None:
        disposition += f'; filename="{filename}"'
    head = f"Content-Disposition: {disposition}\r\n{headers}"
    return f"--{BOUNDARY}\r\n{head}\r\n".encode() + content + b"\r\n"


def body(*parts: bytes) -> bytes:
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


STANDARD_BODY = body(
    part("image", IMAGE, filename="photo.jpg", headers="Content-Type: image/jpeg\r\n"),
    part("style", b"kids"),
)


class RecordingStream:
    """Yields fixed-size chunks and counts how many bytes the reader pulled."""

    def __init__(self, data: bytes | list[bytes], chunk_size: int = 7) -> None:
        if isinstance(data, bytes):
            data = [data[i : i + chunk_size] for i in range(0, len(data), chunk_size)]
        self.chunks = data
        self.pulled = 0
        self.total = sum(len(chunk) for chunk in data)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            self.pulled += len(chunk)
            yield chunk


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return run_async(coroutine)


def read(
    data: bytes | RecordingStream,
    content_type: str | None = CONTENT_TYPE,
    **kwargs: Any,
) -> ParsedUpload:
    stream = data if isinstance(data, RecordingStream) else RecordingStream(data)
    kwargs.setdefault("max_file_bytes", 1_000_000)
    return run(read_image_upload(aiter(stream), content_type, **kwargs))


def refuse(
    data: bytes | RecordingStream, content_type: str | None = CONTENT_TYPE, **kwargs: Any
) -> UploadError:
    with pytest.raises(UploadError) as caught:
        read(data, content_type, **kwargs)
    return caught.value


def assert_invalid_request(error: UploadError) -> None:
    assert REFUSAL_ANSWERS[error.problem] == (422, "invalid_request")


# Well-formed bodies


def test_parses_file_and_style_from_small_chunks() -> None:
    upload = read(RecordingStream(STANDARD_BODY, chunk_size=7))
    assert upload == ParsedUpload(file_bytes=IMAGE, filename="photo.jpg", fields={"style": "kids"})


@pytest.mark.parametrize("chunk_size", [1, 2, 3, 64, 4096, 1_000_000])
def test_any_chunk_size_gives_the_same_result(chunk_size: int) -> None:
    upload = read(RecordingStream(STANDARD_BODY, chunk_size=chunk_size))
    assert upload.file_bytes == IMAGE
    assert upload.fields == {"style": "kids"}


def test_every_split_point_in_two_chunks() -> None:
    # Covers a split inside every CRLF, every delimiter and every header.
    async def all_splits() -> list[ParsedUpload]:
        results = []
        for split in range(1, len(STANDARD_BODY)):
            stream = RecordingStream([STANDARD_BODY[:split], STANDARD_BODY[split:]])
            results.append(
                await read_image_upload(aiter(stream), CONTENT_TYPE, max_file_bytes=10_000)
            )
        return results

    for upload in run(all_splits()):
        assert upload.file_bytes == IMAGE
        assert upload.fields == {"style": "kids"}


def test_file_bytes_ending_in_cr_and_lf() -> None:
    content = b"\xff\xd8\r\n\r\n\r"
    upload = read(RecordingStream(body(part("image", content, filename="a.jpg")), chunk_size=1))
    assert upload.file_bytes == content


def test_style_is_optional_and_filename_may_be_absent() -> None:
    upload = read(body(part("image", IMAGE)))
    assert upload == ParsedUpload(file_bytes=IMAGE, filename=None, fields={})


def test_parts_in_any_order_and_header_names_in_any_case() -> None:
    image = (
        f'--{BOUNDARY}\r\ncontent-DISPOSITION: form-data; name="image"; filename="x.png"\r\n\r\n'
    )
    data = part("style", b"anime") + image.encode() + IMAGE + b"\r\n"
    upload = read(body(data))
    assert upload.file_bytes == IMAGE
    assert upload.fields == {"style": "anime"}


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("C:\\Users\\me\\holiday.jpg", "holiday.jpg"),
        ("../../etc/passwd", "passwd"),
        ("caf\u00e9.heic", "caf\u00e9.heic"),
    ],
)
def test_filename_is_reduced_to_its_last_component(sent: str, kept: str) -> None:
    assert read(body(part("image", IMAGE, filename=sent))).filename == kept


def test_utf8_text_field() -> None:
    upload = read(body(part("image", IMAGE), part("style", "\u00e9t\u00e9".encode())))
    assert upload.fields == {"style": "\u00e9t\u00e9"}


def test_file_exactly_at_the_cap_is_accepted() -> None:
    upload = read(body(part("image", IMAGE)), max_file_bytes=len(IMAGE))
    assert upload.file_bytes == IMAGE


def test_epilogue_after_the_closing_boundary_is_not_read() -> None:
    stream = RecordingStream([STANDARD_BODY, b"epilogue" * 10, b"more" * 1000])
    upload = read(stream)
    assert upload.file_bytes == IMAGE
    assert stream.pulled == len(STANDARD_BODY)


def test_leading_crlf_before_the_first_boundary_is_allowed() -> None:
    assert read(b"\r\n" + STANDARD_BODY).file_bytes == IMAGE


# Size limits


def test_byte_cap_stops_reading_mid_stream() -> None:
    big = body(part("image", b"\xff" * 200_000, filename="big.jpg"))
    stream = RecordingStream(big, chunk_size=1000)
    error = refuse(stream, max_file_bytes=10_000)
    assert REFUSAL_ANSWERS[error.problem] == (413, "too_large")
    assert error.message == "The file is too large; the limit is 10 KB."
    assert stream.pulled <= 10_000 + 2000
    assert stream.pulled < stream.total


def test_content_length_over_the_cap_is_refused_before_reading() -> None:
    stream = RecordingStream(STANDARD_BODY)
    error = refuse(stream, max_file_bytes=1000, content_length=1000 + ENVELOPE_BYTES + 1)
    assert REFUSAL_ANSWERS[error.problem] == (413, "too_large")
    assert stream.pulled == 0


def test_content_length_within_the_envelope_is_read() -> None:
    upload = read(STANDARD_BODY, max_file_bytes=len(IMAGE), content_length=len(STANDARD_BODY))
    assert upload.file_bytes == IMAGE


def test_endless_padding_is_capped_too() -> None:
    # The parser skips CRLFs before the first boundary; they must still count.
    stream = RecordingStream([b"\r\n" * 512] * 1000)
    error = refuse(stream, max_file_bytes=1000)
    assert REFUSAL_ANSWERS[error.problem].status == 413
    assert stream.pulled < stream.total


def test_oversized_text_field_is_422() -> None:
    error = refuse(body(part("image", IMAGE), part("style", b"x" * 1025)))
    assert_invalid_request(error)
    assert (
        read(body(part("image", IMAGE), part("style", b"x" * 1024))).fields["style"] == "x" * 1024
    )


# Refusals


@pytest.mark.parametrize(
    "content_type",
    [None, "", "application/json", "application/x-www-form-urlencoded", "text/plain; boundary=x"],
)
def test_not_multipart_is_422(content_type: str | None) -> None:
    stream = RecordingStream(STANDARD_BODY)
    error = refuse(stream, content_type)
    assert_invalid_request(error)
    assert error.message == "Send the image as multipart/form-data."
    assert stream.pulled == 0


@pytest.mark.parametrize(
    "content_type",
    [
        "multipart/form-data",
        "multipart/form-data; boundary=",
        "multipart/form-data; charset=utf-8",
        "multipart/form-data; boundary=" + "a" * 71,
        'multipart/form-data; boundary="ends with space "',
        "multipart/form-data; boundary=bad\u00e9char",
        "multipart/form-data; boundary=\u2603",
    ],
)
def test_missing_or_invalid_boundary_is_422(content_type: str) -> None:
    assert_invalid_request(refuse(STANDARD_BODY, content_type))


def test_boundary_in_quotes_is_accepted() -> None:
    upload = read(STANDARD_BODY, f'multipart/form-data; boundary="{BOUNDARY}"')
    assert upload.file_bytes == IMAGE


def test_no_image_part_is_422() -> None:
    error = refuse(body(part("style", b"kids")))
    assert_invalid_request(error)
    assert error.message == "The form has no 'image' file."


def test_empty_form_is_422() -> None:
    assert_invalid_request(refuse(f"--{BOUNDARY}--\r\n".encode()))


def test_duplicate_image_is_422() -> None:
    error = refuse(body(part("image", IMAGE), part("image", IMAGE)))
    assert_invalid_request(error)
    assert error.message == "Send only one image."


def test_duplicate_style_is_422() -> None:
    assert_invalid_request(
        refuse(body(part("image", IMAGE), part("style", b"a"), part("style", b"b")))
    )


def test_unknown_text_field_is_422() -> None:
    error = refuse(body(part("image", IMAGE), part("admin", b"true")))
    assert_invalid_request(error)
    assert error.message == "Unexpected form field 'admin'; send only 'image', 'style'."


def test_text_fields_are_configurable() -> None:
    upload = read(
        body(part("photo", IMAGE), part("prompt", b"a cat")),
        file_field="photo",
        text_fields=frozenset({"prompt"}),
    )
    assert upload.fields == {"prompt": "a cat"}
    error = refuse(
        body(part("photo", IMAGE), part("style", b"x")),
        file_field="photo",
        text_fields=frozenset({"prompt"}),
    )
    assert error.message == "Unexpected form field 'style'; send only 'photo', 'prompt'."


def test_invalid_utf8_text_is_422() -> None:
    assert_invalid_request(refuse(body(part("image", IMAGE), part("style", b"\xff\xfe"))))


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"--other\r\n" + STANDARD_BODY, id="wrong-boundary"),
        pytest.param(STANDARD_BODY.replace(b"\r\n", b"\n"), id="bare-lf"),
        pytest.param(b"hello world", id="no-boundary-at-all"),
        pytest.param(
            f"--{BOUNDARY}\r\nbad header line\r\n\r\nxx\r\n--{BOUNDARY}--\r\n".encode(),
            id="header-without-colon",
        ),
    ],
)
def test_malformed_multipart_is_422(data: bytes) -> None:
    assert_invalid_request(refuse(data))


def test_missing_content_disposition_is_422() -> None:
    data = f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n\r\n".encode() + IMAGE
    error = refuse(body(data + b"\r\n"))
    assert_invalid_request(error)


def test_attachment_disposition_is_422() -> None:
    data = f'--{BOUNDARY}\r\nContent-Disposition: attachment; name="image"\r\n\r\n'.encode()
    assert_invalid_request(refuse(body(data + IMAGE + b"\r\n")))


@pytest.mark.parametrize("cut", [10, len(STANDARD_BODY) // 2, len(STANDARD_BODY) - 3])
def test_truncated_body_is_422(cut: int) -> None:
    error = refuse(STANDARD_BODY[:cut])
    assert_invalid_request(error)
