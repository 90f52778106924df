"""Bodies that are not JSON get 422 in the error shape, like any other invalid input, and the
OpenAPI document says so: every error a route answers is listed, in the error shape."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from tests.factories import sign_up
from tests.integration.admin.conftest import audit_count, make_admin

from forkable.accounts.models import ApiKey, User
from forkable.payments.models import Purchase
from forkable.services import Services

NOT_JSON = [
    pytest.param(b'{"email": "\xff\xfe", "password": "x"}', id="not-utf-8"),
    pytest.param(b"[" * 30_000, id="nested-too-deep"),
    pytest.param(b'{"amount": 1' + b"0" * 5_000 + b"}", id="a-5000-digit-number"),
    pytest.param(b'{"email": ', id="cut-short"),
]
JSON = {"content-type": "application/json"}


def _counts(services: Services) -> tuple[int, int, int]:
    with services.database.session() as session:
        return tuple(  # type: ignore[return-value]
            session.scalar(select(func.count()).select_from(model)) or 0
            for model in (User, ApiKey, Purchase)
        )


@pytest.mark.parametrize("body", NOT_JSON)
def test_bodies_that_are_not_json_are_422_and_change_nothing(
    client: TestClient, services: Services, body: bytes
) -> None:
    user = sign_up(client, "boss@example.com")
    make_admin(services, user.user_id)
    before, audit_before = _counts(services), audit_count(services)
    for path in (
        "/api/v1/auth/signup",
        "/api/v1/auth/login",
        "/api/v1/api-keys",
        "/api/v1/checkout",
        f"/api/v1/admin/users/{user.user_id}/grant",
    ):
        response = client.post(path, content=body, headers={**JSON, **user.headers()})
        assert response.status_code == 422, (path, response.text)
        assert response.json()["error"]["code"] == "invalid", path
    assert _counts(services) == before
    assert audit_count(services) == audit_before


def test_every_error_in_the_document_has_the_error_shape(app: FastAPI) -> None:
    document = app.openapi()
    assert "HTTPValidationError" not in document["components"]["schemas"]
    for path, item in document["paths"].items():
        for method, operation in item.items():
            takes_input = operation.get("parameters") or operation.get("requestBody")
            answers = operation["responses"]
            if takes_input:
                assert "422" in answers, (method, path)
            for status, answer in answers.items():
                if int(status) < 400 or path == "/readyz":
                    continue
                schema = answer["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorOut"}, (method, path, status)
                assert answer["description"], (method, path, status)
