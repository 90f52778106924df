"""A scripted visitor journey against a monitored app, and reading its scrape."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from tests.factories import PASSWORD, sign_up, upload, wait_for

from forkable.services import Services
from forkable.testing import fake_gemini
from forkable.testing.fake_gemini import FakeGemini

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@dataclass
class Monitored:
    client: TestClient
    services: Services
    fake: FakeGemini

    def scrape(self, headers: dict[str, str] | None = None) -> str:
        response = self.client.get("/metrics", headers=headers or {})
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/plain")
        return response.text


def samples(text: str) -> Samples:
    """Every sample of a scrape, keyed by (sample name, labels)."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(found: Samples, name: str, **labels: str) -> float:
    return found[(name, frozenset(labels.items()))]


def journey(monitored: Monitored) -> str:
    """Sign up, make one image (after a 429), fail one, log in twice, buy a pack; scrape."""
    client, fake = monitored.client, monitored.fake
    user = sign_up(client, "ada@example.com")
    fake.script(fake_gemini.rate_limited("0s"), fake_gemini.ok())
    made = wait_for(client, upload(client, user).json()["id"])  # type: ignore[attr-defined]
    assert made["status"] == "succeeded"
    fake.script(fake_gemini.blocked_prompt())
    refused = wait_for(client, upload(client, user, style="kids").json()["id"])  # type: ignore[attr-defined]
    assert refused["status"] == "failed"
    wrong = {"email": user.email, "password": "not the password at all"}
    assert client.post("/api/v1/auth/login", json=wrong).status_code == 401
    login = client.post("/api/v1/auth/login", json={"email": user.email, "password": PASSWORD})
    assert login.status_code == 200
    csrf = {"x-csrf-token": login.json()["csrf_token"]}
    started = client.post("/api/v1/checkout", json={"pack_id": "starter"}, headers=csrf)
    assert started.status_code == 201, started.text
    paid = client.post(
        f"/api/v1/demo/purchases/{started.json()['purchase_id']}/complete", headers=csrf
    )
    assert paid.status_code == 200, paid.text
    forged = client.post(
        "/api/v1/webhooks/stripe", content=b"{}", headers={"stripe-signature": "t=1,v1=00"}
    )
    assert forged.status_code == 400
    return monitored.scrape()
