"""A failed call to the model frees what it held at once, not at the garbage collector's next
full pass: the real `google-genai` SDK against the fake Gemini server on loopback.

The collector is off while a call fails, so anything only a reference cycle keeps alive stays
alive and the weak references below see it. A call that timed out after a minute is old by
the time it fails, and in a serving process the collector's full passes come minutes apart:
this is the soak's memory growth (docs/benchmarks.md, "Soak").
"""

from __future__ import annotations

import gc
import random
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from PIL import Image
from tests.serving import free_port

from forkable.providers.base import DEADLINE, REJECTED, ProviderError, TransformRequest
from forkable.providers.gemini import GeminiProvider, RetryPolicy
from forkable.testing import fake_gemini
from forkable.testing.fake_gemini import FakeGemini

MODEL = "gemini-2.5-flash-image"


@pytest.fixture
def fake() -> Iterator[FakeGemini]:
    # Kept calls would hold decoded copies of the photo; none are needed here.
    with FakeGemini(record=False) as server:
        yield server


@pytest.fixture
def provider(fake: FakeGemini) -> Iterator[GeminiProvider]:
    gemini = GeminiProvider(
        api_key="key",
        model=MODEL,
        base_url=fake.url,
        retry=RetryPolicy(base_seconds=0.01, max_seconds=0.01, try_timeout_seconds=1.0),
    )
    yield gemini
    gemini.close()


@contextmanager
def collector_off() -> Iterator[None]:
    was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def is_closed(image: Image.Image) -> bool:
    try:
        image.getpixel((0, 0))
    except ValueError:
        return True
    return False


@pytest.mark.parametrize(
    ("answers", "seconds", "reason"),
    [
        # No answer within the 1 s the try may take, and the deadline has passed.
        ((fake_gemini.slow(3.0),), 1.0, DEADLINE),
        ((fake_gemini.server_error(503), fake_gemini.bad_request()), 10.0, REJECTED),
    ],
    ids=["timeout", "retried-then-refused"],
)
def test_a_failed_call_leaves_nothing_for_the_collector(
    provider: GeminiProvider,
    fake: FakeGemini,
    answers: tuple[fake_gemini.Answer, ...],
    seconds: float,
    reason: str,
) -> None:
    fake.script(*answers)
    photo = Image.new("RGB", (800, 600), "teal")
    request = TransformRequest(
        image=photo, prompt="a coloring page", deadline=time.monotonic() + seconds
    )
    held = {"request": weakref.ref(request), "photo": weakref.ref(photo)}
    with collector_off():
        try:
            provider.transform(request)
        except ProviderError as exc:
            failed_with = exc.reason
        else:
            pytest.fail("the call succeeded")
        del request, photo
        alive = sorted(name for name, ref in held.items() if ref() is not None)
    assert failed_with == reason
    assert alive == []


def test_a_call_that_cannot_connect_leaves_nothing_for_the_collector() -> None:
    closed_port = free_port()  # nothing listens there
    provider = GeminiProvider(
        api_key="key",
        model=MODEL,
        base_url=f"http://127.0.0.1:{closed_port}",
        # Seeded so that the first wait (8.4 s) is past the deadline: one try, then DOWN.
        retry=RetryPolicy(base_seconds=10.0, max_seconds=10.0, rng=random.Random(0)),
    )
    photo = Image.new("RGB", (800, 600), "teal")
    request = TransformRequest(image=photo, prompt="p", deadline=time.monotonic() + 5.0)
    held = weakref.ref(photo)
    with collector_off():
        with pytest.raises(ProviderError, match="connection failed"):
            provider.transform(request)
        del request, photo
        alive = held() is not None
    provider.close()
    assert not alive


def test_a_consumable_photo_is_closed_once_sent_and_a_lent_one_is_left_open(
    provider: GeminiProvider,
) -> None:
    lent, given = Image.new("RGB", (64, 48), "teal"), Image.new("RGB", (64, 48), "teal")
    provider.transform(TransformRequest(image=lent, prompt="p"))
    result = provider.transform(TransformRequest(image=given, prompt="p", consumable=True))
    assert (is_closed(lent), is_closed(given)) == (False, True)
    assert result.image.size == (64, 48)  # the fake draws from the photo it was sent
