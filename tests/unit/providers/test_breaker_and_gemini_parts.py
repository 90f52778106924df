"""The pieces of the Gemini path that need no server: breaker, retry rules, request shaping."""

from __future__ import annotations

import base64
import io
import json

import httpx
import pytest
from google.genai import errors
from PIL import Image

from forkable.providers.base import BLOCKED, DOWN, ProviderError, TransformRequest, TransformResult
from forkable.providers.breaker import BreakerState, CircuitBreaker
from forkable.providers.gemini import (
    encode_input,
    is_daily_quota,
    nearest_aspect_ratio,
    retry_delay,
)
from forkable.providers.guarded import GuardedProvider
from forkable.providers.prices import PriceTable
from forkable.testing.fake_gemini import FakeGemini


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_breaker_opens_after_threshold_and_probes_once() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=3, reset_seconds=10, clock=clock)
    for _ in range(2):
        assert breaker.allow()
        breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    assert not breaker.allow()
    clock.now = 10
    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.allow()  # the probe
    assert not breaker.allow()  # only one
    breaker.record_failure()  # the probe failed: open again for a whole cool-down
    assert not breaker.allow()
    clock.now = 20
    assert breaker.allow()
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED and breaker.allow()


def test_breaker_success_resets_the_count() -> None:
    breaker = CircuitBreaker(failure_threshold=2, reset_seconds=10, clock=Clock())
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED


class Scripted:
    name = "scripted"

    def __init__(self, *outcomes: str) -> None:
        self.outcomes = list(outcomes)
        self.calls = 0

    def transform(self, request: TransformRequest) -> TransformResult:
        self.calls += 1
        outcome = self.outcomes.pop(0)
        if outcome == "ok":
            return TransformResult(image=request.image)
        raise ProviderError(outcome)


def _request() -> TransformRequest:
    return TransformRequest(image=Image.new("RGB", (32, 32)), prompt="p")


def test_guarded_provider_counts_outages_not_refusals_and_falls_back() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=2, reset_seconds=5, clock=clock)
    inner = Scripted(BLOCKED, BLOCKED, DOWN, DOWN)
    fallback = Scripted("ok")
    guarded = GuardedProvider(inner, breaker, fallback)
    for _ in range(4):
        with pytest.raises(ProviderError):
            guarded.transform(_request())
    assert breaker.state is BreakerState.OPEN  # two outages in a row; refusals did not count
    guarded.transform(_request())
    assert (inner.calls, fallback.calls) == (4, 1)


def test_guarded_provider_without_fallback_fails_fast() -> None:
    breaker = CircuitBreaker(failure_threshold=1, reset_seconds=5, clock=Clock())
    inner = Scripted(DOWN)
    guarded = GuardedProvider(inner, breaker)
    with pytest.raises(ProviderError):
        guarded.transform(_request())
    with pytest.raises(ProviderError) as caught:
        guarded.transform(_request())
    assert caught.value.reason == DOWN and inner.calls == 1


@pytest.mark.parametrize(
    ("size", "ratio"),
    [
        ((1000, 1000), "1:1"),
        ((4000, 3000), "4:3"),
        ((3000, 4000), "3:4"),
        ((1920, 1080), "16:9"),
        ((1080, 1920), "9:16"),
        ((2100, 900), "21:9"),
    ],
)
def test_nearest_aspect_ratio(size: tuple[int, int], ratio: str) -> None:
    assert nearest_aspect_ratio(*size) == ratio


def test_input_is_sent_at_the_models_size() -> None:
    data, mime = encode_input(Image.new("RGB", (4000, 3000), "red"))
    assert mime == "image/jpeg"
    assert Image.open(io.BytesIO(data)).size == (1024, 768)
    small, _ = encode_input(Image.new("RGB", (300, 200), "red"))
    assert Image.open(io.BytesIO(small)).size == (300, 200)
    _alpha, alpha_mime = encode_input(Image.new("RGBA", (64, 64), (0, 0, 0, 0)))
    assert alpha_mime == "image/png"


def _api_error(code: int, details: list[dict[str, object]]) -> errors.APIError:
    body = {
        "error": {"code": code, "status": "RESOURCE_EXHAUSTED", "message": "m", "details": details}
    }
    return errors.APIError(code, body)


def test_retry_info_and_daily_quota_are_read_from_the_error() -> None:
    retry = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "26s"}
    daily = {
        "@type": "type.googleapis.com/google.rpc.QuotaFailure",
        "violations": [{"quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier"}],
    }
    assert retry_delay(_api_error(429, [retry])) == 26.0
    assert retry_delay(_api_error(429, [])) is None
    assert is_daily_quota(_api_error(429, [daily]))
    assert not is_daily_quota(_api_error(429, [retry]))


def test_price_table_estimates_cost() -> None:
    table = PriceTable.load()
    price = table.for_model("gemini-2.5-flash-image")
    assert price.cost(258, 1290) == pytest.approx(258 * 0.30e-6 + 1290 * 30e-6)
    assert table.for_model("some-future-model") == table.default


@pytest.mark.parametrize(
    ("field", "mime_field", "urlsafe"),
    [("inlineData", "mimeType", False), ("inline_data", "mime_type", True)],
)
def test_fake_accepts_both_spellings_and_alphabets(
    field: str, mime_field: str, urlsafe: bool
) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), "blue").save(buffer, format="PNG")
    encode = base64.urlsafe_b64encode if urlsafe else base64.b64encode
    body = {
        "contents": [
            {
                "role": "user",
                "parts": [
                    {field: {mime_field: "image/png", "data": encode(buffer.getvalue()).decode()}},
                    {"text": "make it red"},
                ],
            }
        ]
    }
    with FakeGemini() as fake:
        response = httpx.post(
            f"{fake.url}/v1/models/gemini-2.5-flash-image:generateContent",
            content=json.dumps(body),
            headers={"x-goog-api-key": "k"},
        )
        missing = httpx.post(f"{fake.url}/v1/models/x:streamNothing", content="{}")
    assert response.status_code == 200
    part = response.json()["candidates"][0]["content"]["parts"][0]
    assert Image.open(io.BytesIO(base64.b64decode(part["inlineData"]["data"]))).size == (40, 30)
    (call,) = fake.calls
    assert (call.api_version, call.texts, call.api_key) == ("v1", ["make it red"], "k")
    assert missing.status_code == 404 and missing.json()["error"]["status"] == "NOT_FOUND"
