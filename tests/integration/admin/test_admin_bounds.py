"""Out-of-range numbers in admin parameters get 422 or 404, never 500, and change nothing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from tests.factories import SignedUp, sign_up
from tests.integration.admin.conftest import assert_ledger_clean, audit_count, make_admin

from forkable.services import Services
from forkable.web.api.schemas import MAX_PAGE, MAX_ROW_ID

BEYOND_64_BITS = 2**64
BEYOND_SQLITE = 2**63
BEYOND_POSTGRESQL = MAX_ROW_ID + 1
HTML = {"accept": "text/html"}


@pytest.fixture
def raw_client(app: FastAPI) -> Iterator[TestClient]:
    """A browser that sees a 500 as a response, as a visitor would, not as a test error."""
    with TestClient(
        app, base_url="http://coloringbook.localhost", raise_server_exceptions=False
    ) as client:
        yield client


@pytest.fixture
def boss(raw_client: TestClient, services: Services) -> SignedUp:
    user = sign_up(raw_client, "boss@example.com")
    make_admin(services, user.user_id)
    return user


@pytest.mark.parametrize("number", [BEYOND_64_BITS, BEYOND_SQLITE, 0, -1, MAX_PAGE + 1])
@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/admin/users?page={n}",
        "/api/v1/admin/purchases?page={n}",
        "/api/v1/admin/audit?page={n}",
        "/api/v1/admin/dashboard?days={n}",
        "/admin/users?page={n}",
        "/admin/purchases?page={n}",
        "/admin/audit?page={n}",
    ],
)
def test_pages_out_of_range_are_422(
    raw_client: TestClient, boss: SignedUp, path: str, number: int
) -> None:
    response = raw_client.get(path.format(n=number), headers=HTML if path[1] == "a" else {})
    assert response.status_code == 422, response.text
    if path.startswith("/api/"):
        assert response.json()["error"]["code"] == "invalid"


@pytest.mark.parametrize("number", [BEYOND_64_BITS, BEYOND_SQLITE, BEYOND_POSTGRESQL, 0, -1])
def test_user_ids_out_of_range_are_422_everywhere(
    raw_client: TestClient, boss: SignedUp, services: Services, number: int
) -> None:
    audit_before = audit_count(services)
    answers = [
        raw_client.get(f"/api/v1/admin/users/{number}"),
        raw_client.get(f"/admin/users/{number}", headers=HTML),
    ]
    for action in ("grant", "revoke", "disable", "enable"):
        answers.append(
            raw_client.post(
                f"/api/v1/admin/users/{number}/{action}",
                json={"amount": 1, "reason": "bounds"},
                headers=boss.headers(),
            )
        )
        answers.append(
            raw_client.post(
                f"/admin/users/{number}/{action}",
                data={"amount": "1", "reason": "bounds", "csrf_token": boss.csrf_token},
                headers=HTML,
            )
        )
    assert [a.status_code for a in answers] == [422] * len(answers)
    assert audit_count(services) == audit_before
    assert_ledger_clean(services)


def test_the_largest_id_and_page_are_answered(raw_client: TestClient, boss: SignedUp) -> None:
    assert raw_client.get(f"/api/v1/admin/users/{MAX_ROW_ID}").status_code == 404
    assert raw_client.get(f"/admin/users/{MAX_ROW_ID}", headers=HTML).status_code == 404
    assert raw_client.get(f"/api/v1/admin/users?page={MAX_PAGE}").json() == []
    assert raw_client.get(f"/admin/users?page={MAX_PAGE}", headers=HTML).status_code == 200


@pytest.mark.parametrize("q", [str(BEYOND_64_BITS), str(BEYOND_SQLITE), "9" * 200])
def test_searching_for_a_huge_number_finds_nothing(
    raw_client: TestClient, boss: SignedUp, q: str
) -> None:
    assert raw_client.get("/api/v1/admin/users", params={"q": q}).json() == []
    assert raw_client.get("/admin/users", params={"q": q}, headers=HTML).status_code == 200


@pytest.mark.parametrize(("length", "status"), [(64, 404), (65, 422), (10_000, 422)])
def test_string_ids_longer_than_any_id_are_422(
    raw_client: TestClient, boss: SignedUp, length: int, status: int
) -> None:
    long_id = "x" * length
    refund = raw_client.post(
        f"/api/v1/admin/purchases/{long_id}/refund",
        json={"reason": "bounds"},
        headers=boss.headers(),
    )
    assert refund.status_code == status
    site_page = raw_client.get(f"/admin/sites/{long_id}", headers=HTML)
    assert site_page.status_code == (403 if status == 404 else 422)  # boss is no operator
    for method, path in [
        ("GET", f"/api/v1/generations/{long_id}"),
        ("GET", f"/api/v1/generations/{long_id}/result"),
        ("GET", f"/api/v1/generations/{long_id}/input"),
        ("DELETE", f"/api/v1/generations/{long_id}"),
        ("GET", f"/api/v1/purchases/{long_id}"),
        ("DELETE", f"/api/v1/api-keys/{long_id}"),
        ("POST", f"/api/v1/demo/purchases/{long_id}/complete"),
    ]:
        answer = raw_client.request(method, path, headers=boss.headers())
        assert answer.status_code == status, (method, path)


@pytest.mark.parametrize("number", [BEYOND_64_BITS, 0, -1])
def test_other_integer_queries_are_bounded(
    raw_client: TestClient, boss: SignedUp, number: int
) -> None:
    for path in ("/api/v1/ledger?limit={n}", "/api/v1/generations?limit={n}"):
        assert raw_client.get(path.format(n=number)).status_code == 422
