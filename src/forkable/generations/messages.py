"""What a visitor reads when a generation fails: a sentence, never a code."""

from __future__ import annotations

from forkable.providers import base

_REFUNDED = " Your tokens were returned."

MESSAGES = {
    base.BLOCKED: "The image service declined this photo under its safety rules. "
    "Try a different photo.",
    base.BUSY: "The image service is busy right now. Please try again in a minute.",
    base.DOWN: "The image service is not available right now. Please try again later.",
    base.NO_IMAGE: "The image service did not return a picture for this photo. "
    "Try again or use a different photo.",
    base.DEADLINE: "This took too long and was stopped. Please try again.",
    base.QUOTA: "The image service has reached its limit for today. Please try again tomorrow.",
    base.REJECTED: "The image service could not work with this photo. Try a different one.",
    base.INTERNAL: "Something went wrong while making your image.",
}


def failure_message(reason: str) -> str:
    return MESSAGES.get(reason, MESSAGES[base.INTERNAL]) + _REFUNDED
