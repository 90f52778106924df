"""Every mail in text and HTML, in the brand and with the legal footer of its own site."""

from __future__ import annotations

from pathlib import Path

import pytest

from forkable.asgi import open_registry
from forkable.mail.compose import Mail, MailKind, compose, site_url
from forkable.sites import Site

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
LINKS = {
    MailKind.VERIFY_EMAIL: "/verify?token=v-1",
    MailKind.PASSWORD_RESET: "/reset?token=r-1",
    MailKind.EMAIL_CHANGE: "/verify-email-change?token=e-1",
}
FACTS = {
    MailKind.EMAIL_CHANGED: {"new_email": "new@example.com"},
    MailKind.PURCHASE_RECEIPT: {
        "tokens": "50",
        "pack": "Starter",
        "amount": "$4.99",
        "reference": "p-42",
        "date": "2026-12-06",
    },
}


def _site(name: str) -> Site:
    site = open_registry(EXAMPLES / name).get(name)
    assert site is not None
    return site


COLORING, SKETCH = _site("coloringbook"), _site("pencilsketch")


def _mail(site: Site, kind: MailKind, base_url: str | None = None) -> Mail:
    path = LINKS.get(kind)
    link = site_url(site, path, base_url=base_url) if path else None
    return compose(
        site, kind, to="ann@example.com", link=link, facts=FACTS.get(kind), base_url=base_url
    )


@pytest.mark.parametrize("kind", list(MailKind))
def test_each_kind_in_text_and_html_in_each_sites_brand(kind: MailKind) -> None:
    mails = {site.id: _mail(site, kind) for site in (COLORING, SKETCH)}
    for site in (COLORING, SKETCH):
        mail, manifest = mails[site.id], site.manifest
        other = SKETCH if site is COLORING else COLORING
        assert (mail.kind, mail.to) == (kind, "ann@example.com")
        assert manifest.site.name in mail.subject
        assert other.manifest.site.name not in mail.subject
        for body in (mail.text, mail.html):
            assert manifest.site.name in body
            assert manifest.legal.company in body
            assert manifest.legal.contact_email in body
            assert f"https://{manifest.site.domain}/privacy" in body
            assert other.manifest.legal.company not in body
            assert other.manifest.site.domain not in body
        assert manifest.brand.accent_color in mail.html
        assert other.manifest.brand.accent_color not in mail.html
        assert mail.html.lstrip().lower().startswith("<!doctype html")
        assert "href=" not in mail.text and "<p" not in mail.text


@pytest.mark.parametrize("kind", [*LINKS, MailKind.PURCHASE_RECEIPT])
def test_mails_with_an_action_carry_its_link_in_both_bodies(kind: MailKind) -> None:
    for site in (COLORING, SKETCH):
        mail = _mail(site, kind)
        link = site_url(site, LINKS.get(kind, "/app"))
        assert link.startswith(f"https://{site.manifest.site.domain}/")
        assert link in mail.text
        assert f'href="{link}"' in mail.html


def test_a_receipt_names_what_was_bought() -> None:
    mail = _mail(SKETCH, MailKind.PURCHASE_RECEIPT)
    assert mail.subject == "Your SketchMe receipt"
    for fact in ("50 tokens", "Starter", "$4.99", "p-42", "2026-12-06"):
        assert fact in mail.text and fact in mail.html


def test_links_follow_the_base_url_in_development() -> None:
    mail = _mail(COLORING, MailKind.PASSWORD_RESET, base_url="http://coloringbook.localhost:8000")
    assert "http://coloringbook.localhost:8000/reset?token=r-1" in mail.text
    assert "https://coloringbook.example.com" not in mail.text


def test_html_escapes_what_it_is_given() -> None:
    mail = compose(
        COLORING, MailKind.EMAIL_CHANGED, to="a<b>@example.com", facts={"new_email": "<x>@e.com"}
    )
    assert "<x>@e.com" not in mail.html and "&lt;x&gt;@e.com" in mail.html
    assert "<x>@e.com" in mail.text


def test_a_link_is_required_exactly_where_a_button_is() -> None:
    with pytest.raises(ValueError, match="needs a link"):
        compose(COLORING, MailKind.VERIFY_EMAIL, to="ann@example.com")
    with pytest.raises(ValueError, match="has no link"):
        compose(COLORING, MailKind.PASSWORD_CHANGED, to="a@example.com", link="https://x/")
