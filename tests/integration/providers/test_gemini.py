"""The real google-genai SDK against the fake Gemini server, through the whole app."""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from PIL import Image, ImageOps
from tests.factories import photo_bytes, sign_up, upload, wait_for

from forkable.accounts.passwords import fast_passwords
from forkable.app import build_services, create_app
from forkable.generations.runner import RunnerConfig
from forkable.generations.verify import verify_all
from forkable.providers.breaker import CircuitBreaker
from forkable.providers.resolver import ProviderResolver
from forkable.services import Services
from forkable.settings import Settings
from forkable.sites import SiteRegistry
from forkable.testing import fake_gemini
from forkable.testing.fake_gemini import FakeGemini

KEY = "test-gemini-key"


@pytest.fixture
def fake() -> Iterator[FakeGemini]:
    with FakeGemini(required_key=KEY) as server:
        yield server


@dataclass
class Rig:
    client: TestClient
    services: Services
    fake: FakeGemini


@pytest.fixture
def rig(
    fake: FakeGemini,
    registry: SiteRegistry,
    settings_factory: Callable[..., Settings],
    database_url: str,
) -> Iterator[Rig]:
    settings = settings_factory(
        database_url=database_url, gemini_api_key=KEY, gemini_base_url=fake.url
    )
    resolver = ProviderResolver(
        settings, breaker_factory=lambda: CircuitBreaker(failure_threshold=2, reset_seconds=2.0)
    )
    services = build_services(
        registry,
        settings,
        passwords=fast_passwords(),
        resolver=resolver,
        runner_config=RunnerConfig(
            workers=1, lease_seconds=10, poll_seconds=0.05, deadline_seconds=4.0
        ),
    )
    app = create_app(registry, settings, services=services, migrate=True)
    with TestClient(app, base_url="http://coloringbook.localhost") as client:
        yield Rig(client, services, fake)
    services.database.dispose()


def _generate(rig: Rig, style: str | None = None) -> dict[str, object]:
    user = sign_up(rig.client, f"u{time.monotonic_ns()}@example.com")
    response = upload(rig.client, user, style=style)
    assert response.status_code == 202, response.text  # type: ignore[attr-defined]
    return wait_for(rig.client, response.json()["id"])  # type: ignore[attr-defined]


def _balance(rig: Rig) -> tuple[int, int]:
    me = rig.client.get("/api/v1/me").json()
    return me["balance"], me["held"]


def _assert_refunded_once(rig: Rig, done: dict[str, object], fragment: str) -> None:
    assert done["status"] == "failed"
    assert fragment in str(done["error"]) and "tokens were returned" in str(done["error"])
    assert _balance(rig) == (3, 0)
    kinds = [e["kind"] for e in rig.client.get("/api/v1/ledger").json()]
    assert kinds.count("generation_void") == 1 and "generation_capture" not in kinds
    with rig.services.database.session() as session:
        assert verify_all(session) == []


def test_success_stores_the_models_image_and_sends_the_prompts(rig: Rig) -> None:
    done = _generate(rig, style="kids")
    assert done["status"] == "succeeded", done
    (call,) = rig.fake.calls
    assert call.api_key == KEY
    assert call.api_version == "v1beta"
    assert call.model == "gemini-2.5-flash-image"
    assert "clean black-and-white coloring book page" in call.prompt
    assert "very bold, thick outlines" in call.prompt  # the style's prompt
    assert call.config["responseModalities"] == ["TEXT", "IMAGE"]
    assert call.config["imageConfig"]["aspectRatio"] == "1:1"  # the astronaut is square
    assert call.image_mime_types == ["image/jpeg"]
    sent = call.images[0]
    original = Image.open(io.BytesIO(photo_bytes()))
    assert sent.size == original.size
    stored = Image.open(io.BytesIO(rig.client.get(str(done["result_url"])).content))
    expected = ImageOps.posterize(ImageOps.grayscale(sent).convert("RGB"), 2)
    assert stored.tobytes() == expected.tobytes()  # exactly what the fake drew
    assert _balance(rig) == (2, 0)


def test_usage_and_cost_are_recorded(rig: Rig) -> None:
    from sqlalchemy import select

    from forkable.generations.models import Generation

    done = _generate(rig)
    with rig.services.database.session() as session:
        row = session.scalar(select(Generation).where(Generation.id == done["id"]))
    assert row is not None
    assert row.output_tokens == fake_gemini.IMAGE_TOKENS
    assert row.prompt_tokens and row.total_tokens == row.prompt_tokens + row.output_tokens
    assert row.cost_usd == pytest.approx(row.prompt_tokens * 0.30e-6 + 1290 * 30e-6)
    assert row.provider == "gemini"


def test_429_429_200_succeeds_after_retries(rig: Rig) -> None:
    rig.fake.script(fake_gemini.rate_limited("0.05s"), fake_gemini.rate_limited("0.05s"))
    done = _generate(rig)
    assert done["status"] == "succeeded"
    assert len(rig.fake.calls) == 3


def test_400_is_not_retried_and_refunds(rig: Rig) -> None:
    rig.fake.script(fake_gemini.bad_request())
    done = _generate(rig)
    assert len(rig.fake.calls) == 1
    _assert_refunded_once(rig, done, "could not work with this photo")


@pytest.mark.parametrize(
    ("answer", "fragment"),
    [
        (fake_gemini.blocked_prompt("PROHIBITED_CONTENT"), "safety rules"),
        (fake_gemini.finish("IMAGE_SAFETY"), "safety rules"),
        (fake_gemini.finish("PROHIBITED_CONTENT"), "safety rules"),
        (fake_gemini.finish("OTHER"), "did not return a picture"),
        (fake_gemini.text_only(), "did not return a picture"),
        (fake_gemini.rate_limited(None, daily=True), "limit for today"),
    ],
)
def test_refusals_fail_with_a_sentence_and_refund(
    rig: Rig, answer: fake_gemini.Answer, fragment: str
) -> None:
    rig.fake.script(answer)
    done = _generate(rig)
    assert len(rig.fake.calls) == 1  # none of these is worth retrying
    _assert_refunded_once(rig, done, fragment)


def test_slow_beyond_the_deadline_fails_and_refunds_once(rig: Rig) -> None:
    rig.fake.script(fake_gemini.slow(12))
    started = time.monotonic()
    done = _generate(rig)
    assert time.monotonic() - started < 10  # gave up at the 4 s deadline, not after 12 s
    _assert_refunded_once(rig, done, "took too long")


def test_server_errors_until_the_deadline_fail_as_down(rig: Rig) -> None:
    rig.fake.default = fake_gemini.server_error(503)
    done = _generate(rig)
    assert len(rig.fake.calls) >= 2  # retried while time allowed
    _assert_refunded_once(rig, done, "not available right now")


def test_breaker_opens_then_closes_after_a_good_probe(rig: Rig) -> None:
    rig.fake.default = fake_gemini.server_error(500)
    _generate(rig)
    assert rig.client.get("/readyz").json()["components"]["provider"] == {"status": "ok"}
    _generate(rig)  # the second failed generation opens the breaker (threshold 2)
    assert rig.client.get("/readyz").json()["components"]["provider"]["status"] == "degraded"
    assert rig.client.get("/readyz").status_code == 200
    calls_when_open = len(rig.fake.calls)
    failed_fast = _generate(rig)
    assert failed_fast["status"] == "failed"
    assert len(rig.fake.calls) == calls_when_open  # no call went out while open
    rig.fake.default = fake_gemini.ok()
    time.sleep(2.1)  # the cool-down passes; the next call is the probe
    assert _generate(rig)["status"] == "succeeded"
    assert rig.client.get("/readyz").json()["components"]["provider"] == {"status": "ok"}


def test_spend_cap_refuses_new_generations(rig: Rig) -> None:
    from sqlalchemy import update

    from forkable.generations.models import SpendDay

    _generate(rig)
    with rig.services.database.transaction() as session:
        # The site's cap is $50: today's reported spend reaches it.
        session.execute(update(SpendDay).values(spent_micro_usd=50_000_000))
    user = sign_up(rig.client, "late@example.com")
    refused = upload(rig.client, user)
    assert refused.status_code == 429  # type: ignore[attr-defined]
    body = refused.json()  # type: ignore[attr-defined]
    assert body["error"]["code"] == "spend_cap"
    assert "come back tomorrow" in body["error"]["message"]
    assert _balance(rig) == (3, 0)
