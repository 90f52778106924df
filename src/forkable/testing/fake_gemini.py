"""A fake Gemini API on loopback that the real `google-genai` SDK can talk to.

It speaks `POST /{v1,v1beta}/models/{model}:generateContent` as the SDK sends it and answers
in the documented wire format. By default it returns an image derived from the input (a
posterised greyscale version) with `usageMetadata`; tests script the next answers to be rate
limits, server errors, blocked prompts, safety stops, text-only answers or slow replies, or set
`default` to a `Flaky` answer that fails a share of the calls at random (a soak's unreliable
model). Every request is recorded, decoded, for assertions (`record=False` keeps nothing, for
long runs).

Run it for a local demo: `python -m forkable.testing.fake_gemini --port 8765`, then start
forkable with `GEMINI_API_KEY=any FORKABLE_GEMINI_BASE_URL=http://127.0.0.1:8765`.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import io
import json
import random
import re
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from PIL import Image, ImageOps

from forkable.testing.http import LoopbackServer, LoopbackService, RecordedRequest, Reply

_PATH = re.compile(r"^/(v1|v1beta|v1alpha)/models/([^/:]+):generateContent$")
IMAGE_TOKENS = 1290  # what Gemini 2.5 Flash Image reports for one output image
INPUT_IMAGE_TOKENS = 258

Answer = Callable[["GenerateCall"], Reply]


@dataclass
class GenerateCall:
    """One decoded generateContent request."""

    api_version: str
    model: str
    api_key: str | None
    texts: list[str]
    images: list[Image.Image]
    image_mime_types: list[str]
    config: dict[str, Any]
    raw: dict[str, Any] = field(repr=False)

    @property
    def prompt(self) -> str:
        return "\n".join(self.texts)


def _json(status: int, payload: dict[str, Any], delay: float = 0.0) -> Reply:
    return Reply(
        status=status,
        body=json.dumps(payload).encode(),
        headers={"content-type": "application/json; charset=UTF-8"},
        delay=delay,
    )


def _error(
    code: int, status: str, message: str, details: list[dict[str, Any]] | None = None
) -> Reply:
    body: dict[str, Any] = {"error": {"code": code, "message": message, "status": status}}
    if details:
        body["error"]["details"] = details
    return _json(code, body)


def _b64decode(text: str) -> bytes:
    # The SDK sends URL-safe base64; other clients send the standard alphabet. Accept both.
    normalised = text.replace("-", "+").replace("_", "/")
    return base64.b64decode(normalised + "=" * (-len(normalised) % 4), validate=True)


def _usage(call: GenerateCall, output_tokens: int) -> dict[str, int]:
    prompt_tokens = INPUT_IMAGE_TOKENS * len(call.images) + sum(len(t.split()) for t in call.texts)
    return {
        "promptTokenCount": prompt_tokens,
        "candidatesTokenCount": output_tokens,
        "totalTokenCount": prompt_tokens + output_tokens,
    }


def derived_image(call: GenerateCall) -> bytes:
    """The fake's "model output": the first input image, greyscale and posterised, as PNG."""
    source = call.images[0] if call.images else Image.new("RGB", (64, 64), "white")
    image = ImageOps.posterize(ImageOps.grayscale(source).convert("RGB"), 2)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


# -- answers a test can script -------------------------------------------------------------


def ok(delay: float = 0.0) -> Answer:
    def answer(call: GenerateCall) -> Reply:
        data = base64.b64encode(derived_image(call)).decode()
        return _json(
            200,
            {
                "candidates": [
                    {
                        "content": {
                            "role": "model",
                            "parts": [{"inlineData": {"mimeType": "image/png", "data": data}}],
                        },
                        "finishReason": "STOP",
                        "index": 0,
                    }
                ],
                "usageMetadata": _usage(call, IMAGE_TOKENS),
                "modelVersion": call.model,
            },
            delay=delay,
        )

    return answer


def slow(seconds: float) -> Answer:
    """A correct answer that takes ``seconds`` to arrive."""
    return ok(delay=seconds)


def rate_limited(retry_delay: str | None = "1s", *, daily: bool = False) -> Answer:
    """429 RESOURCE_EXHAUSTED as Google sends it, with RetryInfo and QuotaFailure details."""
    quota = (
        "GenerateRequestsPerDayPerProjectPerModel"
        if daily
        else "GenerateRequestsPerMinutePerProjectPerModel"
    )

    def answer(call: GenerateCall) -> Reply:
        details: list[dict[str, Any]] = [
            {
                "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                "violations": [
                    {
                        "quotaMetric": "generativelanguage.googleapis.com/generate_content_requests",
                        "quotaId": quota,
                        "quotaDimensions": {"model": call.model, "location": "global"},
                    }
                ],
            }
        ]
        if retry_delay:
            details.append(
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": retry_delay}
            )
        return _error(
            429,
            "RESOURCE_EXHAUSTED",
            "You exceeded your current quota, please check your plan and billing details.",
            details,
        )

    return answer


def server_error(code: int = 503) -> Answer:
    statuses = {500: "INTERNAL", 502: "UNAVAILABLE", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}
    message = (
        "The model is overloaded. Please try again later." if code == 503 else "Internal error."
    )
    return lambda _call: _error(code, statuses.get(code, "INTERNAL"), message)


def bad_request(message: str = "Request contains an invalid argument.") -> Answer:
    return lambda _call: _error(400, "INVALID_ARGUMENT", message)


def blocked_prompt(reason: str = "PROHIBITED_CONTENT") -> Answer:
    """HTTP 200 with `promptFeedback.blockReason` and no candidates."""
    return lambda call: _json(
        200, {"promptFeedback": {"blockReason": reason}, "usageMetadata": _usage(call, 0)}
    )


def finish(reason: str = "IMAGE_SAFETY") -> Answer:
    """A candidate that stopped for ``reason`` without an image."""
    return lambda call: _json(
        200,
        {
            "candidates": [{"content": {"role": "model", "parts": []}, "finishReason": reason}],
            "usageMetadata": _usage(call, 0),
        },
    )


def text_only(text: str = "I can't edit this image, but here is a description instead.") -> Answer:
    """A STOP answer with text and no image."""
    return lambda call: _json(
        200,
        {
            "candidates": [
                {
                    "content": {"role": "model", "parts": [{"text": text}]},
                    "finishReason": "STOP",
                }
            ],
            "usageMetadata": _usage(call, 12),
        },
    )


def default_failures() -> tuple[tuple[str, Answer], ...]:
    """What an unreliable model answers when it fails: retryable errors (overloaded, internal,
    rate limited) and refusals the client must not retry (a bad request, a safety stop)."""
    return (
        ("503", server_error(503)),
        ("500", server_error(500)),
        ("429", rate_limited("1s")),
        ("400", bad_request()),
        ("image_safety", finish("IMAGE_SAFETY")),
    )


class Flaky:
    """An answer that fails a share of the calls at random, for `FakeGemini.default`.

    ``failure_rate`` of the calls get one of ``failures`` (chosen evenly); ``timeout_rate`` get
    no answer for ``timeout_seconds`` (longer than the client waits for one try, so the client
    times out); the rest are `ok()`. ``counts`` says how often each was chosen.
    """

    def __init__(
        self,
        *,
        failure_rate: float,
        timeout_rate: float,
        timeout_seconds: float = 75.0,
        failures: Sequence[tuple[str, Answer]] | None = None,
        seed: int | None = None,
    ) -> None:
        if failure_rate < 0 or timeout_rate < 0 or failure_rate + timeout_rate > 1:
            raise ValueError("failure_rate and timeout_rate must be shares that sum to 1 at most")
        self.failure_rate = failure_rate
        self.timeout_rate = timeout_rate
        self.timeout_seconds = timeout_seconds
        self.failures = tuple(failures) if failures is not None else default_failures()
        self.counts: Counter[str] = Counter()
        self._ok = ok()
        self._slow = ok(delay=timeout_seconds)
        self._rng = random.Random(seed)  # noqa: S311 - fault injection, not security
        self._lock = threading.Lock()

    def __call__(self, call: GenerateCall) -> Reply:
        with self._lock:
            roll = self._rng.random()
            if roll < self.failure_rate:
                name, answer = self._rng.choice(self.failures)
            elif roll < self.failure_rate + self.timeout_rate:
                name, answer = "timeout", self._slow
            else:
                name, answer = "ok", self._ok
            self.counts[name] += 1
        return answer(call)


# -- the server ----------------------------------------------------------------------------


class FakeGemini(LoopbackService):
    """The fake API. ``script(a, b)`` sets the next answers; after them, ``default`` answers."""

    def __init__(
        self, *, required_key: str | None = None, port: int = 0, record: bool = True
    ) -> None:
        self.required_key = required_key
        self.default: Answer = ok()
        self.record = record  # False: neither requests nor decoded calls are kept
        self._script: deque[Answer] = deque()
        self._lock = threading.Lock()
        self.calls: list[GenerateCall] = []
        self.server = LoopbackServer(self._handle, port=port, record=record)

    def script(self, *answers: Answer) -> None:
        with self._lock:
            self._script.extend(answers)

    def _next_answer(self) -> Answer:
        with self._lock:
            return self._script.popleft() if self._script else self.default

    def _handle(self, request: RecordedRequest) -> Reply:
        match = _PATH.match(request.path.split("?", 1)[0])
        if request.method != "POST" or not match:
            return _error(404, "NOT_FOUND", f"Method not found: {request.method} {request.path}")
        api_key = request.headers.get("x-goog-api-key")
        if self.required_key is not None and api_key != self.required_key:
            return _error(
                400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key."
            )
        try:
            call = _decode(match.group(1), match.group(2), api_key, request.json())
        except (ValueError, KeyError, TypeError, binascii.Error) as exc:
            return _error(400, "INVALID_ARGUMENT", f"Invalid JSON payload received. {exc}")
        if self.record:
            with self._lock:
                self.calls.append(call)
        return self._next_answer()(call)


def _decode(
    api_version: str, model: str, api_key: str | None, body: dict[str, Any]
) -> GenerateCall:
    texts: list[str] = []
    images: list[Image.Image] = []
    mime_types: list[str] = []
    for content in body["contents"]:
        for part in content.get("parts", []):
            if "text" in part:
                texts.append(part["text"])
            inline = part.get("inlineData") or part.get("inline_data")
            if inline is not None:
                mime = inline.get("mimeType") or inline.get("mime_type")
                if not mime:
                    raise ValueError("inlineData without mimeType")
                image = Image.open(io.BytesIO(_b64decode(inline["data"])))
                image.load()
                images.append(image)
                mime_types.append(mime)
    config = body.get("generationConfig") or body.get("generation_config") or {}
    return GenerateCall(api_version, model, api_key, texts, images, mime_types, config, body)


def main() -> None:
    parser = argparse.ArgumentParser(description="Run the fake Gemini API on loopback.")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--failure-rate", type=float, default=0.0, help="share of calls failed")
    parser.add_argument("--timeout-rate", type=float, default=0.0, help="share left unanswered")
    args = parser.parse_args()
    with FakeGemini(port=args.port, record=False) as fake:
        if args.failure_rate or args.timeout_rate:
            fake.default = Flaky(failure_rate=args.failure_rate, timeout_rate=args.timeout_rate)
        print(f"fake Gemini listening on {fake.url}", flush=True)  # noqa: T201
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
