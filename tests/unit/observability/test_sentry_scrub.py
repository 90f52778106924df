"""What leaves for Sentry: no cookies, auth headers, bodies, users or addresses."""

from __future__ import annotations

from typing import Any

from forkable.observability.logs import REDACTED, bind_request
from forkable.observability.sentry import init_sentry, scrub_breadcrumb, scrub_event
from forkable.settings import Settings


class Site:
    id = "petpix"


def test_scrub_event_removes_personal_data_and_tags_the_site() -> None:
    bind_request("req-9", {"site": Site()})
    event: Any = {
        "request": {
            "url": "https://petpix.example.com/api/v1/me",
            "headers": {
                "Cookie": "forkable_session=abc",
                "Authorization": "Bearer fk_" + "k" * 43,
                "X-CSRF-Token": "csrf-value",
                "Stripe-Signature": "t=1,v1=ff",
                "User-Agent": "curl",
            },
            "cookies": {"forkable_session": "abc"},
            "data": {"email": "ada@example.com", "password": "pw"},
        },
        "user": {"id": 1, "email": "ada@example.com", "ip_address": "10.0.0.1"},
        "exception": {"values": [{"value": "failed for ada@example.com"}]},
        "extra": {"password": "pw", "nested": [{"csrf_token": "x", "note": "bob@example.com"}]},
    }
    scrubbed = scrub_event(event, None)
    request = scrubbed["request"]
    assert request["headers"] == {"User-Agent": "curl"}
    assert "cookies" not in request and "data" not in request
    assert "user" not in scrubbed
    assert scrubbed["exception"]["values"][0]["value"] == "failed for a***@example.com"
    assert scrubbed["extra"]["password"] == REDACTED
    assert scrubbed["extra"]["nested"] == [{"csrf_token": REDACTED, "note": "b***@example.com"}]
    assert scrubbed["tags"] == {"site": "petpix", "request_id": "req-9"}


def test_breadcrumbs_are_masked_too() -> None:
    crumb: Any = {"message": "mail to zed@example.com", "data": {"token": "t"}}
    assert scrub_breadcrumb(crumb, None) == {
        "message": "mail to z***@example.com",
        "data": {"token": REDACTED},
    }


def test_no_dsn_no_sentry() -> None:
    assert init_sentry(Settings()) is False
