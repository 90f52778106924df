"""Error reporting to Sentry when `SENTRY_DSN` is set, with personal data scrubbed.

Events carry the release (`forkable.__version__`), the environment and the site as tags.
Nothing personal leaves: no default PII, no local variables, no request bodies, and
`scrub_event` drops cookies, the Authorization, CSRF and Stripe-Signature headers and the user,
masks e-mail addresses and cuts API keys and bearer tokens from every string of the event.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from forkable import __version__
from forkable.observability.logs import REDACTED, current_request, is_secret_name, scrub_text
from forkable.settings import Settings

if TYPE_CHECKING:
    from sentry_sdk._types import Breadcrumb, BreadcrumbHint, Event, Hint

_DROPPED_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "x-csrf-token",
        "stripe-signature",
        "x-api-key",
        "x-forwarded-for",
        "x-real-ip",
    }
)


def init_sentry(settings: Settings) -> bool:
    """Start the Sentry SDK with its FastAPI integration; False when no DSN is set."""
    if not settings.sentry_dsn:
        return False
    # Imported here: processes without a DSN never load the SDK (start-up time, memory).
    import sentry_sdk
    from sentry_sdk.integrations.fastapi import FastApiIntegration
    from sentry_sdk.integrations.starlette import StarletteIntegration

    sentry_sdk.init(
        dsn=settings.sentry_dsn,
        release=__version__,
        environment=settings.env,
        send_default_pii=False,
        # Frames' locals hold request bodies and passwords; bodies may hold e-mail addresses.
        include_local_variables=False,
        max_request_body_size="never",
        before_send=scrub_event,
        before_breadcrumb=scrub_breadcrumb,
        integrations=[StarletteIntegration(), FastApiIntegration()],
    )
    return True


def scrub_event(event: Event, _hint: Hint | None = None) -> Event:
    """The event without personal data or secrets, tagged with the request's site."""
    request = event.get("request")
    if isinstance(request, dict):
        for key in ("cookies", "data", "env"):
            request.pop(key, None)
        headers = request.get("headers")
        if isinstance(headers, dict):
            request["headers"] = {
                name: value
                for name, value in headers.items()
                if name.lower() not in _DROPPED_HEADERS
            }
    event.pop("user", None)
    context = current_request()
    if context is not None:
        tags = event.setdefault("tags", {})
        if isinstance(tags, dict):
            if (site_id := context.site_id) is not None:
                tags["site"] = site_id
            tags["request_id"] = context.request_id
    cleaned: Event = _clean(event)
    return cleaned


def scrub_breadcrumb(crumb: Breadcrumb, _hint: BreadcrumbHint | None = None) -> Breadcrumb:
    """Breadcrumbs (log lines, HTTP calls) get the same masking as events."""
    cleaned: Breadcrumb = _clean(crumb)
    return cleaned


def _clean(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            key: REDACTED if isinstance(key, str) and is_secret_name(key) else _clean(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [_clean(item) for item in value]
    if isinstance(value, str):
        return scrub_text(value)
    return value
