"""A real server with JSON logs: one object per line, request ids, and no secret anywhere."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest
from tests.conftest import EXAMPLES
from tests.factories import PASSWORD, photo_bytes
from tests.serving import serve
from tests.support.mailbox import verify_from_mail

EMAIL = "grace.hopper@example.com"


def finished(client: httpx.Client, generation_id: str) -> dict[str, object]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        body: dict[str, object] = client.get(f"/api/v1/generations/{generation_id}").json()
        if body["status"] in ("succeeded", "failed"):
            return body
        time.sleep(0.1)
    raise TimeoutError(generation_id)


@pytest.mark.slow
def test_json_logs_carry_request_ids_and_no_secrets(tmp_path: Path) -> None:
    env = {"FORKABLE_LOG_FORMAT": "json", "FORKABLE_WORKERS": "1"}
    secrets: list[str] = [PASSWORD, EMAIL]
    with serve(EXAMPLES / "coloringbook", tmp_path / "var", env=env) as server:
        with httpx.Client(base_url=server.url, timeout=30) as browser:
            signup = browser.post(
                "/api/v1/auth/signup", json={"email": EMAIL, "password": PASSWORD}
            )
            assert signup.status_code == 201, signup.text
            secrets += [signup.json()["csrf_token"], browser.cookies["forkable_session"]]
            verify_from_mail(browser, tmp_path / "var", EMAIL)
            wrong = {"email": EMAIL, "password": PASSWORD + " but wrong"}
            assert browser.post("/api/v1/auth/login", json=wrong).status_code == 401
            secrets.append(PASSWORD + " but wrong")
            login = browser.post("/api/v1/auth/login", json={"email": EMAIL, "password": PASSWORD})
            assert login.status_code == 200
            csrf = login.json()["csrf_token"]
            secrets += [csrf, browser.cookies["forkable_session"]]
            created = browser.post(
                "/api/v1/api-keys",
                json={"name": "laptop"},
                headers={"x-csrf-token": csrf, "x-request-id": "journey-7"},
            )
            assert created.status_code == 201, created.text
            assert created.headers["x-request-id"] == "journey-7"
            key = created.json()["key"]
            secrets.append(key)
        with httpx.Client(
            base_url=server.url, timeout=30, headers={"authorization": f"Bearer {key}"}
        ) as script:
            submitted = script.post(
                "/api/v1/generations", files={"image": ("me.jpg", photo_bytes(), "image/jpeg")}
            )
            assert submitted.status_code == 202, submitted.text
            assert finished(script, submitted.json()["id"])["status"] == "succeeded"
            generated_request = submitted.headers["x-request-id"]
    log = server.log.read_text()

    records = [json.loads(line) for line in log.splitlines() if line.strip()]
    assert all({"ts", "level", "logger", "msg"} <= record.keys() for record in records)
    requests = [r for r in records if r.get("event") == "request"]
    assert requests and all(r["request_id"] for r in requests)
    mine = next(r for r in requests if r["request_id"] == "journey-7")
    assert mine["route"] == "/api/v1/api-keys"
    assert mine["status"] == 201
    assert mine["site"] == "coloringbook"
    assert isinstance(mine["user_id"], int)
    upload = next(r for r in requests if r["request_id"] == generated_request)
    assert upload["path"] == "/api/v1/generations" and upload["user_id"] == mine["user_id"]
    assert any(r["logger"].startswith("uvicorn") for r in records)  # uvicorn's lines are JSON too
    for secret in secrets:
        assert secret not in log, f"a secret reached the log: {secret[:6]}..."
