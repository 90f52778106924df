"""The app's own mail through a real SMTP server: two sites on one server sign the same address
up, each mail arrives once in its site's brand, and its link works on its own site only."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from email.message import Message
from email.utils import parseaddr

from fastapi.testclient import TestClient
from tests.factories import PASSWORD
from tests.integration.mail.conftest import Mailbox, mail_server

from forkable.accounts.passwords import fast_passwords
from forkable.app import build_services, create_app
from forkable.settings import Settings
from forkable.sites import SiteRegistry

LINK = re.compile(r"(https?://[^/\s]+)/verify-email\?token=([\w-]+)")
HOSTS = {"coloringbook": "coloringbook.localhost", "pencilsketch": "pencilsketch.localhost"}


def _text(message: Message) -> str:
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            return payload.decode(part.get_content_charset() or "utf-8")
    raise AssertionError("no text part")


def _wait(condition: Callable[[], bool], timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the mail never arrived"
        time.sleep(0.05)


def test_each_site_mails_its_own_working_link(
    registry: SiteRegistry, settings_factory: Callable[..., Settings], database_url: str
) -> None:
    mailbox = Mailbox()
    with mail_server(mailbox) as url:
        settings = settings_factory(database_url=database_url, smtp_url=url)
        services = build_services(registry, settings, passwords=fast_passwords())
        app = create_app(registry, settings, services=services, migrate=True)
        with TestClient(app):  # the lifespan: the app's threads run
            # One browser per site, each with its own cookies.
            browsers = {
                site_id: TestClient(app, base_url=f"http://{host}")
                for site_id, host in HOSTS.items()
            }
            for browser in browsers.values():
                signed_up = browser.post(
                    "/api/v1/auth/signup", json={"email": "ann@example.com", "password": PASSWORD}
                )
                assert signed_up.status_code == 201, signed_up.text
            services.maintenance.deliver_mail()  # the app's own thread would, within 5 s
            _wait(lambda: len(mailbox.received) == 2)
            received = {parseaddr(m.message["From"])[0]: m.message for m in mailbox.received}
            assert set(received) == {"ColoringBook AI", "SketchMe"}
            links = {
                "coloringbook": LINK.search(_text(received["ColoringBook AI"])),
                "pencilsketch": LINK.search(_text(received["SketchMe"])),
            }
            for site_id, found in links.items():
                assert found is not None, site_id
                assert found.group(1) == f"http://{HOSTS[site_id]}"
            tokens = {site_id: found.group(2) for site_id, found in links.items() if found}

            # A link works only on the site that sent it, and only once.
            crossed = browsers["pencilsketch"].post(
                "/api/v1/auth/verify-email", json={"token": tokens["coloringbook"]}
            )
            assert crossed.status_code == 400
            for site_id, token in tokens.items():
                browser = browsers[site_id]
                verified = browser.post("/api/v1/auth/verify-email", json={"token": token})
                assert verified.status_code == 200, verified.text
                me = browser.get("/api/v1/me")
                assert me.json()["balance"] == registry.get(site_id).manifest.pricing.signup_bonus  # type: ignore[union-attr]
            again = browsers["pencilsketch"].post(
                "/api/v1/auth/verify-email", json={"token": tokens["pencilsketch"]}
            )
            assert again.status_code == 400
        services.runner.stop()
        services.database.dispose()
    assert len(mailbox.received) == 2  # nothing sent twice
