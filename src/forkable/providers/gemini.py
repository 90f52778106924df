"""Gemini 2.5 Flash Image ("nano banana") through the official `google-genai` SDK.

The SDK's own retries are off; this module retries 429, 5xx and timeouts itself, with
exponential backoff and full jitter, honouring the server's RetryInfo, all under one deadline
per generation, and maps every outcome to a reason a visitor can read.
"""

from __future__ import annotations

import io
import logging
import random
import re
import time
import traceback
from collections.abc import Callable
from typing import Any

import httpx
from google import genai
from google.genai import errors, types
from PIL import Image

from forkable.image_bytes import encode_image
from forkable.observability.metrics import Metrics
from forkable.providers.base import (
    BLOCKED,
    BUSY,
    DEADLINE,
    DOWN,
    NO_IMAGE,
    QUOTA,
    REJECTED,
    ProviderError,
    TransformRequest,
    TransformResult,
    Usage,
)
from forkable.providers.prices import PriceTable

logger = logging.getLogger(__name__)

# Pinned: image output (responseModalities, imageConfig) is served on v1beta, and the SDK's
# default version changed between major releases.
API_VERSION = "v1beta"
RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
# Finish reasons that mean "refused on content grounds" rather than "could not draw it".
SAFETY_FINISH = frozenset(
    {
        "SAFETY",
        "IMAGE_SAFETY",
        "PROHIBITED_CONTENT",
        "IMAGE_PROHIBITED_CONTENT",
        "BLOCKLIST",
        "SPII",
        "RECITATION",
        "IMAGE_RECITATION",
    }
)
# Gemini draws about 1024 px on the long side; a bigger input costs tokens and upload time.
INPUT_LONG_SIDE = 1024
ASPECT_RATIOS = {
    "1:1": 1.0,
    "2:3": 2 / 3,
    "3:2": 3 / 2,
    "3:4": 3 / 4,
    "4:3": 4 / 3,
    "4:5": 4 / 5,
    "5:4": 5 / 4,
    "9:16": 9 / 16,
    "16:9": 16 / 9,
    "21:9": 21 / 9,
}
_DELAY = re.compile(r"^(\d+(?:\.\d+)?)s$")


def _transport_errors() -> tuple[tuple[type[Exception], ...], tuple[type[Exception], ...]]:
    """Timeout and transport error classes of whichever HTTP client the SDK picked.

    google-genai uses `httpx2` when it is installed and `httpx` otherwise.
    """
    timeouts: list[type[Exception]] = [httpx.TimeoutException]
    transports: list[type[Exception]] = [httpx.TransportError]
    try:
        import httpx2
    except ImportError:
        pass
    else:
        timeouts.append(httpx2.TimeoutException)
        transports.append(httpx2.TransportError)
    return tuple(timeouts), tuple(transports)


_TIMEOUTS, _TRANSPORT_ERRORS = _transport_errors()


class RetryPolicy:
    """Exponential backoff with full jitter; each try also has its own timeout cap."""

    def __init__(
        self,
        *,
        base_seconds: float = 1.0,
        max_seconds: float = 20.0,
        try_timeout_seconds: float = 60.0,
        rng: random.Random | None = None,
    ) -> None:
        self.base_seconds = base_seconds
        self.max_seconds = max_seconds
        self.try_timeout_seconds = try_timeout_seconds
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not security

    def backoff(self, attempt: int) -> float:
        return self._rng.uniform(0, min(self.max_seconds, self.base_seconds * 2**attempt))


def nearest_aspect_ratio(width: int, height: int) -> str:
    ratio = width / height
    return min(ASPECT_RATIOS, key=lambda name: abs(ASPECT_RATIOS[name] - ratio))


def encode_input(image: Image.Image) -> tuple[bytes, str]:
    """The photo at the size the model uses: JPEG, or PNG when it has transparency."""
    if max(image.size) > INPUT_LONG_SIDE:
        image = image.copy()
        image.thumbnail((INPUT_LONG_SIDE, INPUT_LONG_SIDE), Image.Resampling.LANCZOS)
    if image.mode in ("RGBA", "LA"):
        return encode_image(image, "PNG"), "image/png"
    return encode_image(image.convert("RGB"), "JPEG", quality=90), "image/jpeg"


def _error_details(exc: errors.APIError) -> list[dict[str, Any]]:
    details = exc.details if isinstance(exc.details, dict) else {}
    error = details.get("error", {}) if isinstance(details.get("error"), dict) else {}
    found = error.get("details", [])
    return found if isinstance(found, list) else []


def retry_delay(exc: errors.APIError) -> float | None:
    """The delay Google asks for in a RetryInfo detail, e.g. "26s"."""
    for detail in _error_details(exc):
        if str(detail.get("@type", "")).endswith("google.rpc.RetryInfo"):
            match = _DELAY.match(str(detail.get("retryDelay", "")))
            if match:
                return float(match.group(1))
    return None


def is_daily_quota(exc: errors.APIError) -> bool:
    """A per-day quota: waiting seconds will not help, so do not retry."""
    for detail in _error_details(exc):
        for violation in detail.get("violations", []) or []:
            if "PerDay" in str(violation.get("quotaId", "")):
                return True
    return False


def release_frames(exc: BaseException) -> None:
    """Drop the local variables of the finished frames an SDK error passed through.

    The SDK re-raises a failed call's error from its retry wrapper (tenacity), which keeps
    that error in a `RetryError` held by the wrapper's own frames: a reference cycle through
    the error's traceback. Every frame in it also holds its caller's frame, up through this
    provider to the job, so the cycle keeps the call's request body, the photo (decoded and
    encoded) and the job's locals alive until the garbage collector's next full pass, which
    in a serving process comes minutes apart. A call that failed fast is freed by a young
    pass; one that timed out after a minute is old by then and waits for a full one. Clearing
    the frames (what ``traceback.clear_frames`` does; a frame still running is left as it
    is) breaks the cycle, so all of it is freed as soon as the error is.
    """
    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    while pending:
        error = pending.pop()
        if error is None or id(error) in seen:
            continue
        seen.add(id(error))
        traceback.clear_frames(error.__traceback__)
        pending += (error.__cause__, error.__context__)


class GeminiProvider:
    """Transforms a photo with a prompt through Gemini's generateContent."""

    name = "gemini"

    def __init__(
        self,
        *,
        api_key: str,
        model: str,
        base_url: str | None = None,
        prices: PriceTable | None = None,
        retry: RetryPolicy | None = None,
        default_deadline_seconds: float = 120.0,
        sleep: Callable[[float], None] = time.sleep,
        metrics: Metrics | None = None,
    ) -> None:
        self.model = model
        self.metrics = metrics or Metrics(enabled=False)
        self.prices = prices or PriceTable.load()
        self.retry = retry or RetryPolicy()
        self.default_deadline_seconds = default_deadline_seconds
        self._sleep = sleep
        http_options = types.HttpOptions(api_version=API_VERSION, base_url=base_url)
        self._client = genai.Client(api_key=api_key, http_options=http_options)

    def close(self) -> None:
        """Close the SDK's pooled connections (kept open between generations otherwise)."""
        self._client.close()

    def transform(self, request: TransformRequest) -> TransformResult:
        deadline = request.deadline or time.monotonic() + self.default_deadline_seconds
        data, mime_type = encode_input(request.image)
        aspect = nearest_aspect_ratio(*request.image.size)
        if request.consumable:
            # The model gets the JPEG; the decoded photo (2 MB at 800 px, 36 MB at 12 MP) would
            # otherwise stay in memory for the whole call, up to a minute when the model stalls.
            request.image.close()
        contents: list[Any] = [
            types.Part.from_bytes(data=data, mime_type=mime_type),
            request.prompt,
        ]
        attempt = 0
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ProviderError(DEADLINE, "deadline passed before a try could start")
            timeout = min(remaining, self.retry.try_timeout_seconds)
            started = time.monotonic()
            try:
                response = self._client.models.generate_content(
                    model=request.model or self.model,
                    contents=contents,
                    config=self._config(aspect, timeout),
                )
            except errors.APIError as exc:
                release_frames(exc)
                kind = self._log_try(attempt, exc.code, started)
                delay = self._retry_after_error(exc, attempt, deadline)
            except _TIMEOUTS as exc:
                release_frames(exc)
                kind = self._log_try(attempt, "timeout", started)
                if time.monotonic() >= deadline:
                    raise ProviderError(DEADLINE, "the model did not answer in time") from None
                delay = self._backoff_within(attempt, deadline, DEADLINE, "timeouts")
            except _TRANSPORT_ERRORS as exc:
                release_frames(exc)
                kind = self._log_try(attempt, type(exc).__name__, started)
                delay = self._backoff_within(attempt, deadline, DOWN, f"connection failed: {exc}")
            else:
                self._log_try(attempt, 200, started)
                return self._outcome(response, request.model or self.model)
            self.metrics.record_provider_retry(self.name, kind)
            self._sleep(delay)
            attempt += 1

    def _config(self, aspect: str, timeout: float) -> types.GenerateContentConfig:
        return types.GenerateContentConfig(
            response_modalities=["TEXT", "IMAGE"],
            image_config=types.ImageConfig(aspect_ratio=aspect),
            http_options=types.HttpOptions(timeout=max(1000, int(timeout * 1000))),
        )

    def _log_try(self, attempt: int, status: object, started: float) -> str:
        """Log one try; its status as text (the kind of a retry, in metrics)."""
        logger.info(
            "gemini try %d: %s in %.0f ms",
            attempt + 1,
            status,
            (time.monotonic() - started) * 1000,
            extra={"provider": "gemini", "attempt": attempt + 1, "status": str(status)},
        )
        return str(status)

    def _retry_after_error(self, exc: errors.APIError, attempt: int, deadline: float) -> float:
        """Seconds to wait before the next try, or raise the final ProviderError."""
        code = exc.code or 0
        if code not in RETRYABLE_STATUS:
            reason = REJECTED if code == 400 else DOWN
            raise ProviderError(reason, f"{code} {exc.status}: {exc.message}")
        if code == 429 and is_daily_quota(exc):
            raise ProviderError(QUOTA, f"daily quota exhausted: {exc.message}")
        final = BUSY if code == 429 else DOWN
        asked = retry_delay(exc)
        if asked is None:
            return self._backoff_within(attempt, deadline, final, f"{code} {exc.status}")
        if time.monotonic() + asked >= deadline:
            raise ProviderError(final, f"{code}: asked to wait {asked:g}s past the deadline")
        return asked

    def _backoff_within(self, attempt: int, deadline: float, reason: str, detail: str) -> float:
        delay = self.retry.backoff(attempt)
        if time.monotonic() + delay >= deadline:
            raise ProviderError(reason, f"{detail}; no time left for another try")
        return delay

    def _outcome(self, response: types.GenerateContentResponse, model: str) -> TransformResult:
        usage = self._usage(response, model)
        feedback = response.prompt_feedback
        if feedback is not None and feedback.block_reason is not None:
            raise ProviderError(BLOCKED, f"prompt blocked: {feedback.block_reason}", usage=usage)
        if not response.candidates:
            raise ProviderError(NO_IMAGE, "no candidates", usage=usage)
        candidate = response.candidates[0]
        finish = str(candidate.finish_reason.value) if candidate.finish_reason else "STOP"
        if finish != "STOP":
            reason = BLOCKED if finish in SAFETY_FINISH else NO_IMAGE
            raise ProviderError(reason, f"finish reason {finish}", usage=usage)
        parts = candidate.content.parts if candidate.content and candidate.content.parts else []
        for part in parts:
            if part.inline_data is not None and part.inline_data.data:
                image = Image.open(io.BytesIO(part.inline_data.data))
                image.load()
                return TransformResult(image=image, usage=usage)
        texts = " ".join(part.text for part in parts if part.text)
        raise ProviderError(NO_IMAGE, f"text only: {texts[:200]}", usage=usage)

    def _usage(self, response: types.GenerateContentResponse, model: str) -> Usage:
        metadata = response.usage_metadata
        if metadata is None:
            return Usage()
        prompt = metadata.prompt_token_count
        output = metadata.candidates_token_count
        return Usage(
            prompt_tokens=prompt,
            output_tokens=output,
            total_tokens=metadata.total_token_count,
            cost_usd=self.prices.for_model(model).cost(prompt, output),
        )
