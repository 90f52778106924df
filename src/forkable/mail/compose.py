"""Every mail a site sends, branded for that site, in plain text and HTML.

The words of each mail are here; `templates/mail.txt` and `templates/mail.html` lay them out
with the site's name, colours, logo and legal footer. Links point at the site's own domain
(`https://{site.domain}`), or at ``base_url`` when the caller knows better (development, where
the site answers on `{id}.localhost`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from forkable.sites import Site

TEMPLATES_DIR = Path(__file__).parent / "templates"


class MailKind(StrEnum):
    VERIFY_EMAIL = "verify_email"
    PASSWORD_RESET = "password_reset"  # noqa: S105 (a kind, not a password)
    PASSWORD_CHANGED = "password_changed"  # noqa: S105 (a kind, not a password)
    EMAIL_CHANGE = "email_change"  # to the new address: confirm it
    EMAIL_CHANGED = "email_changed"  # to the old address: it was replaced
    PURCHASE_RECEIPT = "purchase_receipt"
    ACCOUNT_DELETED = "account_deleted"


@dataclass(frozen=True)
class Mail:
    kind: MailKind
    to: str
    subject: str
    text: str
    html: str


@dataclass(frozen=True)
class _Words:
    subject: str
    paragraphs: tuple[str, ...]
    action: str | None = None  # the button's label, for mails with a link
    action_path: str | None = None  # the link when the caller gives none
    after: tuple[str, ...] = ()  # lines under the button


# Placeholders: {site} always; the others are the ``facts`` each caller passes.
_WORDS: dict[MailKind, _Words] = {
    MailKind.VERIFY_EMAIL: _Words(
        subject="Confirm your address for {site}",
        paragraphs=("Welcome to {site}! Please confirm that this address is yours.",),
        action="Confirm my address",
        after=(
            "The link works once and for 48 hours.",
            "If you did not sign up, ignore this mail: nothing happens without the link.",
        ),
    ),
    MailKind.PASSWORD_RESET: _Words(
        subject="Reset your {site} password",
        paragraphs=("Someone (we hope you) asked to reset the password of your {site} account.",),
        action="Choose a new password",
        after=(
            "The link works once and for one hour. Setting a new password signs out every "
            "browser signed in to your account; your API keys keep working until you revoke "
            "them.",
            "If you did not ask, ignore this mail: your password stays as it is.",
        ),
    ),
    MailKind.PASSWORD_CHANGED: _Words(
        subject="Your {site} password was changed",
        paragraphs=(
            "The password of your {site} account was changed, and every other browser signed "
            "in to it was signed out. Your API keys keep working until you revoke them on "
            "your account page.",
            "If this was not you, reset your password now and write to {contact}.",
        ),
    ),
    MailKind.EMAIL_CHANGE: _Words(
        subject="Confirm your new address for {site}",
        paragraphs=("Please confirm that this address is yours to use it for {site}.",),
        action="Confirm my new address",
        after=(
            "The link works once and for 48 hours. Until then your account keeps its old address.",
            "If you did not ask for this, ignore this mail.",
        ),
    ),
    MailKind.EMAIL_CHANGED: _Words(
        subject="Your {site} address was changed",
        paragraphs=(
            "Your {site} account now uses {new_email} instead of this address.",
            "If this was not you, write to {contact} at once.",
        ),
    ),
    MailKind.PURCHASE_RECEIPT: _Words(
        subject="Your {site} receipt",
        paragraphs=(
            "Thank you for your purchase. {tokens} tokens were added to your {site} account.",
            "Pack: {pack}. Paid: {amount}. Reference: {reference}. Date: {date}.",
        ),
        action="Make an image",
        action_path="/app",
    ),
    MailKind.ACCOUNT_DELETED: _Words(
        subject="Your {site} account was deleted",
        paragraphs=(
            "Your {site} account was deleted as you asked. Your photos and images were "
            "deleted, and your address and password were erased.",
            "The records of payments and tokens stay, without your name, as the law and our "
            "accounts require. This is the last mail you get from us.",
        ),
    ),
}


def site_url(site: Site, path: str = "/", *, base_url: str | None = None) -> str:
    """An absolute link: on ``base_url`` when given, else on the site's own domain."""
    base = (base_url or f"https://{site.manifest.site.domain}").rstrip("/")
    return f"{base}/{path.lstrip('/')}"


def compose(
    site: Site,
    kind: MailKind,
    *,
    to: str,
    link: str | None = None,
    facts: Mapping[str, str] | None = None,
    base_url: str | None = None,
) -> Mail:
    """The mail ``kind`` of ``site`` to ``to``; ``link`` is the button's absolute URL."""
    words = _WORDS[kind]
    if link is None and words.action_path is not None:
        link = site_url(site, words.action_path, base_url=base_url)
    if (words.action is None) != (link is None):
        raise ValueError(f"a {kind} mail {'needs a' if words.action else 'has no'} link")
    manifest = site.manifest
    values = {"site": manifest.site.name, "contact": manifest.legal.contact_email, **(facts or {})}
    subject = words.subject.format(**values)
    context = {
        "site": site,
        "manifest": manifest,
        "home": site_url(site, "/", base_url=base_url),
        "logo": (
            site_url(site, f"/assets/{site.asset_path(manifest.brand.logo)}", base_url=base_url)
            if manifest.brand.logo
            else None
        ),
        "privacy": site_url(site, "/privacy", base_url=base_url),
        "subject": subject,
        "paragraphs": [paragraph.format(**values) for paragraph in words.paragraphs],
        "action": words.action,
        "link": link,
        "after": [line.format(**values) for line in words.after],
        "to": to,
    }
    environment = _environment()
    return Mail(
        kind=kind,
        to=to,
        subject=subject,
        text=environment.get_template("mail.txt").render(context),
        html=environment.get_template("mail.html").render(context),
    )


@cache
def _environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )
