"""Schemathesis against a real server: no 5xx, every answer in the schema, every status documented.

A bounded, seeded run (the same cases every time) of every operation in /api/openapi.json, as a
signed-in browser (session cookie and X-CSRF-Token), as a user's API key (which session-only
routes refuse with 403), and as a signed-in admin, who also reaches the admin routes. The admin
goes last: its run may disable the others' accounts. Each caller has a paid purchase and a
finished image, and half the ids tried are theirs, so the runs reach what those routes answer
for real rows too.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from tests.conftest import EXAMPLES
from tests.factories import PASSWORD, photo_bytes
from tests.serving import Server, serve

pytestmark = pytest.mark.slow

SEED = 14
# Cases per operation and phase: 34 operations in three runs take about two minutes here.
# FORKABLE_FUZZ_EXAMPLES=500 makes a deeper run by hand.
MAX_EXAMPLES = int(os.environ.get("FORKABLE_FUZZ_EXAMPLES", "30"))
CHECKS = "not_a_server_error,status_code_conformance,response_schema_conformance"
# Logging out would end a session caller's session halfway through its run.
KEEP_SESSION = ("--exclude-operation-id", "logout_api_v1_auth_logout_post")


@dataclass
class Caller:
    name: str
    headers: dict[str, str]
    extra: tuple[str, ...] = ()


@dataclass
class Seeded:
    """Rows made before the runs, so that half the ids tried name something real."""

    generation_ids: list[str]
    purchase_ids: list[str]
    user_ids: list[int]

    def config(self) -> str:
        """A schemathesis.toml that offers these ids for the path parameters of their kind."""
        ids = {
            "generation_id": self.generation_ids,
            "purchase_id": self.purchase_ids,
            "user_id": self.user_ids,
        }
        lines = []
        for name, values in ids.items():
            lines += [f"[dictionaries.{name}]", f"values = {json.dumps(values)}", ""]
        lines.append("[parameters]")
        lines += [f'"path.{name}" = {{ dictionary = "{name}", probability = 0.5 }}' for name in ids]
        return "\n".join(lines) + "\n"


def _sign_up(client: httpx.Client, email: str) -> str:
    """Sign up on ``client`` (which keeps the cookie); the session's CSRF token."""
    response = client.post("/api/v1/auth/signup", json={"email": email, "password": PASSWORD})
    assert response.status_code == 201, response.text
    token: str = response.json()["csrf_token"]
    return token


def _api_key(client: httpx.Client, csrf: str) -> str:
    response = client.post(
        "/api/v1/api-keys", json={"name": "fuzz"}, headers={"x-csrf-token": csrf}
    )
    assert response.status_code == 201, response.text
    key: str = response.json()["key"]
    return key


def _seed(client: httpx.Client, headers: dict[str, str], seeded: Seeded) -> None:
    """A purchase (paid, in demo mode) and an image (made) for the caller of ``client``."""
    bought = client.post("/api/v1/checkout", json={"pack_id": "starter"}, headers=headers)
    assert bought.status_code == 201, bought.text
    purchase_id = bought.json()["purchase_id"]
    paid = client.post(f"/api/v1/demo/purchases/{purchase_id}/complete", headers=headers)
    assert paid.status_code == 200, paid.text
    photo = {"image": ("photo.jpg", photo_bytes(), "image/jpeg")}
    made = client.post("/api/v1/generations", files=photo, headers=headers)
    assert made.status_code == 202, made.text
    generation_id = made.json()["id"]
    deadline = time.monotonic() + 60
    status = f"/api/v1/generations/{generation_id}"
    while client.get(status, headers=headers).json()["status"] != "succeeded":
        assert time.monotonic() < deadline, "the seeded image was not made"
        time.sleep(0.1)
    seeded.generation_ids.append(generation_id)
    seeded.purchase_ids.append(purchase_id)
    seeded.user_ids.append(client.get("/api/v1/me", headers=headers).json()["id"])


def _make_admin(email: str, data_dir: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "forkable", "users", "create", email, "--admin", "--password-stdin"],
        input=PASSWORD + "\n",
        env={**os.environ, "FORKABLE_DATA_DIR": str(data_dir)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("fuzz") / "var"
    env = {
        "FORKABLE_WORKERS": "1",
        "FORKABLE_LOG_FORMAT": "json",
        "FORKABLE_OPERATOR_EMAILS": "admin@example.com",
        # Both switched on, so the cron and webhook routes check what they are sent.
        "CRON_SECRET": "cron-secret-for-the-fuzz-run",
        "STRIPE_WEBHOOK_SECRET": "whsec_fuzz",
    }
    with serve(EXAMPLES / "coloringbook", data_dir, env=env) as running:
        _make_admin("admin@example.com", data_dir)
        yield running


@pytest.fixture(scope="module")
def seeded() -> Seeded:
    return Seeded([], [], [])


@pytest.fixture(scope="module")
def callers(server: Server, seeded: Seeded) -> list[Caller]:
    with httpx.Client(base_url=server.url, timeout=30) as browser:
        csrf = _sign_up(browser, "browser@example.com")
        _seed(browser, {"x-csrf-token": csrf}, seeded)
        cookie = f"forkable_session={browser.cookies['forkable_session']}"
    with httpx.Client(base_url=server.url, timeout=30) as script:
        script_csrf = _sign_up(script, "script@example.com")
        _seed(script, {"x-csrf-token": script_csrf}, seeded)
        key = _api_key(script, script_csrf)
    with httpx.Client(base_url=server.url, timeout=30) as admin:
        login = admin.post(
            "/api/v1/auth/login", json={"email": "admin@example.com", "password": PASSWORD}
        )
        assert login.status_code == 200, login.text
        assert login.json()["user"]["is_admin"]
        admin_csrf = login.json()["csrf_token"]
        _seed(admin, {"x-csrf-token": admin_csrf}, seeded)
        admin_cookie = f"forkable_session={admin.cookies['forkable_session']}"
    return [
        Caller("browser", {"Cookie": cookie, "X-CSRF-Token": csrf}, KEEP_SESSION),
        # Session-only routes (keys, checkout, admin) answer a key's 403 as documented.
        Caller("api key", {"Authorization": f"Bearer {key}"}),
        # Last: the admin run may disable the other callers' accounts.
        Caller("admin", {"Cookie": admin_cookie, "X-CSRF-Token": admin_csrf}, KEEP_SESSION),
    ]


def _schemathesis(
    server: Server, caller: Caller, config: Path, report: Path
) -> subprocess.CompletedProcess[str]:
    headers = [
        part for name, value in caller.headers.items() for part in ("-H", f"{name}: {value}")
    ]
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "--config-file",
        str(config),
        "run",
        f"{server.url}/api/openapi.json",
        *headers,
        "--checks",
        CHECKS,
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        str(SEED),
        "--phases",
        "examples,coverage,fuzzing,stateful",
        "--workers",
        "1",
        "--request-timeout",
        "30",
        "--continue-on-failure",
        "--no-color",
        "--report",
        "junit",
        "--report-junit-path",
        str(report),
        *caller.extra,
    ]
    return subprocess.run(
        command, capture_output=True, text=True, timeout=600, check=False, cwd=report.parent
    )


def test_every_operation_answers_as_documented(
    server: Server, callers: list[Caller], seeded: Seeded, tmp_path: Path
) -> None:
    config = tmp_path / "schemathesis.toml"
    config.write_text(seeded.config())
    failures = []
    for caller in callers:
        done = _schemathesis(server, caller, config, tmp_path / f"{caller.name}.xml")
        if done.returncode != 0:
            failures.append(
                f"--- as {caller.name} ---\n{done.stdout[-20000:]}\n{done.stderr[-2000:]}"
            )
    assert not failures, "\n".join(failures)
