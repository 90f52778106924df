"""The fake Gemini's random faults (`Flaky`): the shares asked for, reproducible by seed, and
`record=False` keeping nothing."""

from __future__ import annotations

import base64
import io
import time

import httpx
import pytest
from PIL import Image

from forkable.testing.fake_gemini import FakeGemini, Flaky


def _body() -> dict[str, object]:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), "red").save(buffer, "PNG")
    data = base64.b64encode(buffer.getvalue()).decode()
    parts = [{"inlineData": {"mimeType": "image/png", "data": data}}, {"text": "colour it"}]
    return {"contents": [{"role": "user", "parts": parts}]}


def _outcomes(fake: FakeGemini, calls: int) -> list[tuple[int, float]]:
    url = f"{fake.url}/v1beta/models/gemini-2.5-flash-image:generateContent"
    found = []
    with httpx.Client(timeout=5) as client:
        for _ in range(calls):
            started = time.monotonic()
            response = client.post(url, json=_body())
            found.append((response.status_code, time.monotonic() - started))
    return found


def test_flaky_fails_and_stalls_the_shares_asked_for_and_records_nothing() -> None:
    flaky = Flaky(failure_rate=0.4, timeout_rate=0.1, timeout_seconds=0.3, seed=7)
    with FakeGemini(record=False) as fake:
        fake.default = flaky
        outcomes = _outcomes(fake, 60)
        assert fake.calls == [] and fake.requests == []
    assert sum(flaky.counts.values()) == 60
    failed = sum(n for name, n in flaky.counts.items() if name not in ("ok", "timeout"))
    assert 12 <= failed <= 36 and 1 <= flaky.counts["timeout"] <= 14
    # A stalled call answers (correctly) only after the stall; errors carry their status.
    slow = [seconds for status, seconds in outcomes if seconds >= 0.3]
    assert len(slow) == flaky.counts["timeout"]
    refusals = sum(1 for status, _ in outcomes if status != 200)
    assert refusals == failed - flaky.counts["image_safety"]  # a safety stop answers 200


def test_the_same_seed_makes_the_same_choices() -> None:
    def choices(seed: int) -> dict[str, int]:
        flaky = Flaky(failure_rate=0.3, timeout_rate=0.1, timeout_seconds=0.05, seed=seed)
        with FakeGemini(record=False) as fake:
            fake.default = flaky
            _outcomes(fake, 30)
        return dict(flaky.counts)

    assert choices(3) == choices(3)


def test_shares_beyond_the_whole_are_refused() -> None:
    with pytest.raises(ValueError, match="shares"):
        Flaky(failure_rate=0.8, timeout_rate=0.3)
