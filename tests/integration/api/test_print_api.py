"""Print-ready output through the API: a result as a one-page PDF, and coloring books."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import update
from tests.factories import SignedUp, photo_bytes, sign_up, upload, wait_for
from tests.support.pdf import drawn_images, page_size, read

from forkable.db.types import utcnow
from forkable.generations.models import Generation, Status
from forkable.generations.printing import MARGIN_PT
from forkable.generations.retention import expire_media
from forkable.services import Services

A4 = (595.28, 841.89)
LETTER = (612.0, 792.0)


def _made(client: TestClient, user: SignedUp, name: str = "astronaut") -> str:
    generation_id: str = upload(client, user, photo_bytes(name)).json()["id"]  # type: ignore[attr-defined]
    assert wait_for(client, generation_id)["status"] == "succeeded"
    return generation_id


def _size(data: bytes) -> tuple[float, float]:
    width, height = page_size(read(data).pages[0])
    return round(width, 2), round(height, 2)


def _book(client: TestClient, user: SignedUp, **body: object) -> object:
    return client.post("/api/v1/books", json=body, headers=user.headers())


# --- result.pdf ---------------------------------------------------------------------------


def test_a_result_downloads_as_a_one_page_pdf_on_either_paper(client: TestClient) -> None:
    user = sign_up(client)
    generation_id = _made(client, user)  # the astronaut is square: a portrait page
    url = f"/api/v1/generations/{generation_id}/result.pdf"

    default = client.get(url)
    assert default.status_code == 200, default.text
    assert default.headers["content-type"] == "application/pdf"
    disposition = default.headers["content-disposition"]
    assert disposition == f'attachment; filename="coloringbook-{generation_id[:8]}-a4.pdf"'
    assert _size(default.content) == A4
    assert _size(client.get(f"{url}?paper=letter").content) == LETTER

    reader = read(default.content)
    assert len(reader.pages) == 1
    (drawn,) = drawn_images(reader, reader.pages[0])
    assert drawn.pixels == (320, 320)  # the result as it is: small, never upscaled
    assert drawn.x0 >= MARGIN_PT - 0.01 and drawn.y0 >= MARGIN_PT - 0.01


def test_an_unknown_paper_is_422_with_a_clear_message(client: TestClient) -> None:
    user = sign_up(client)
    generation_id = _made(client, user)

    refused = client.get(f"/api/v1/generations/{generation_id}/result.pdf?paper=a3")

    assert refused.status_code == 422
    message = refused.json()["error"]["message"]
    assert "paper" in message and "'a4' or 'letter'" in message


def test_another_users_result_pdf_is_404(client: TestClient) -> None:
    owner = sign_up(client)
    generation_id = _made(client, owner)
    client.cookies.clear()
    sign_up(client, email="eve@example.com")

    assert client.get(f"/api/v1/generations/{generation_id}/result.pdf").status_code == 404
    client.cookies.clear()
    assert client.get(f"/api/v1/generations/{generation_id}/result.pdf").status_code == 404


def test_an_unfinished_result_pdf_answers_like_the_result_itself(
    client: TestClient, services: Services
) -> None:
    services.runner.stop()  # nothing gets made: the image stays queued
    user = sign_up(client)
    generation_id = upload(client, user).json()["id"]  # type: ignore[attr-defined]

    image = client.get(f"/api/v1/generations/{generation_id}/result")
    pdf = client.get(f"/api/v1/generations/{generation_id}/result.pdf")

    assert (pdf.status_code, pdf.json()) == (image.status_code, image.json())
    assert pdf.json()["error"]["message"] == "This image is not ready."


def test_an_expired_result_pdf_is_410(client: TestClient, services: Services) -> None:
    user = sign_up(client)
    generation_id = _made(client, user)
    expire_media(
        services.database, services.store, services.sites, now=utcnow() + timedelta(days=366)
    )

    gone = client.get(f"/api/v1/generations/{generation_id}/result.pdf")

    assert gone.status_code == 410
    assert "365 days after it was made" in gone.json()["error"]["message"]


# --- books --------------------------------------------------------------------------------


def test_a_book_is_a_cover_and_one_page_per_image(client: TestClient) -> None:
    user = sign_up(client)
    ids = [_made(client, user, name) for name in ("astronaut", "chelsea", "coffee")]

    response = _book(
        client, user, title="Grandma's Summer: 2026!", paper="letter", generation_ids=ids
    )

    assert response.status_code == 200, response.text  # type: ignore[attr-defined]
    headers = response.headers  # type: ignore[attr-defined]
    assert headers["content-type"] == "application/pdf"
    assert headers["content-disposition"] == 'attachment; filename="grandma-s-summer-2026.pdf"'
    reader = read(response.content)  # type: ignore[attr-defined]
    assert len(reader.pages) == len(ids) + 1
    cover = " ".join(reader.pages[0].extract_text().split())  # the title may wrap
    assert "Grandma's Summer: 2026!" in cover and "ColoringBook AI" in cover
    assert all(round(page_size(p)[0] + page_size(p)[1], 2) == 1404.0 for p in reader.pages)
    # Each image on its own page, in the order asked: chelsea and coffee are landscape.
    landscape = [page_size(p)[0] > page_size(p)[1] for p in reader.pages[1:]]
    assert landscape == [False, True, True]


def test_a_book_defaults_to_a4(client: TestClient) -> None:
    user = sign_up(client)
    generation_id = _made(client, user)

    response = _book(client, user, title="Mine", generation_ids=[generation_id])

    assert response.status_code == 200  # type: ignore[attr-defined]
    assert _size(response.content) == A4  # type: ignore[attr-defined]


def test_a_book_is_checked_before_anything_is_made(client: TestClient) -> None:
    user = sign_up(client)
    generation_id = _made(client, user)
    ids = [generation_id]
    cases: list[tuple[dict[str, object], str]] = [
        ({"title": "", "generation_ids": ids}, "title"),
        ({"title": "   ", "generation_ids": ids}, "title"),
        ({"title": "x" * 81, "generation_ids": ids}, "at most 80 characters"),
        ({"title": "Tab\there", "generation_ids": ids}, "control characters"),
        ({"title": "Book", "paper": "a3", "generation_ids": ids}, "'a4' or 'letter'"),
        ({"title": "Book", "generation_ids": []}, "generation_ids"),
        ({"title": "Book", "generation_ids": ids * 51}, "at most 50 items"),
        ({"title": "Book"}, "generation_ids"),
    ]
    for body, said in cases:
        refused = _book(client, user, **body)
        assert refused.status_code == 422, body  # type: ignore[attr-defined]
        assert said in refused.json()["error"]["message"], refused.json()  # type: ignore[attr-defined]
    assert _book(client, user, title="Book", generation_ids=ids * 50).status_code == 200  # type: ignore[attr-defined]


def test_a_book_with_someone_elses_image_is_404(client: TestClient) -> None:
    owner = sign_up(client)
    theirs = _made(client, owner)
    client.cookies.clear()
    eve = sign_up(client, email="eve@example.com")
    mine = _made(client, eve)

    refused = _book(client, eve, title="Stolen", generation_ids=[mine, theirs])

    assert refused.status_code == 404  # type: ignore[attr-defined]
    assert refused.json()["error"]["message"] == f"No such image: {theirs}."  # type: ignore[attr-defined]


def test_a_book_with_an_unfinished_or_failed_image_is_409(
    client: TestClient, services: Services
) -> None:
    user = sign_up(client)
    done = _made(client, user)
    other = _made(client, user, "chelsea")
    for status, said in ((Status.RUNNING, "is still being made"), (Status.FAILED, "failed")):
        with services.database.transaction() as session:
            session.execute(update(Generation).where(Generation.id == other).values(status=status))

        refused = _book(client, user, title="Soon", generation_ids=[done, other])

        assert refused.status_code == 409  # type: ignore[attr-defined]
        assert said in refused.json()["error"]["message"]  # type: ignore[attr-defined]


def test_a_book_needs_the_csrf_token_with_a_cookie_and_works_with_a_key(
    client: TestClient,
) -> None:
    user = sign_up(client)
    generation_id = _made(client, user)
    body = {"title": "Book", "generation_ids": [generation_id]}

    forged = client.post("/api/v1/books", json=body)
    assert forged.status_code == 403
    assert forged.json()["error"]["code"] == "csrf_failed"

    key = client.post("/api/v1/api-keys", json={"name": "print"}, headers=user.headers())
    assert key.status_code == 201, key.text
    client.cookies.clear()
    with_key = {"authorization": f"Bearer {key.json()['key']}"}
    assert client.post("/api/v1/books", json=body, headers=with_key).status_code == 200
    pdf = client.get(f"/api/v1/generations/{generation_id}/result.pdf", headers=with_key)
    assert pdf.status_code == 200


def test_the_openapi_document_describes_both(client: TestClient) -> None:
    paths = client.get("/api/openapi.json").json()["paths"]
    pdf = paths["/api/v1/generations/{generation_id}/result.pdf"]["get"]
    assert "application/pdf" in pdf["responses"]["200"]["content"]
    assert {"404", "410", "422"} <= set(pdf["responses"])
    book = paths["/api/v1/books"]["post"]
    assert "application/pdf" in book["responses"]["200"]["content"]
    assert {"403", "404", "409", "410", "422"} <= set(book["responses"])
