"""Mail to users: the SMTP server and the sender address."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import parse_qs, urlsplit

from pydantic import AfterValidator, BaseModel

from forkable.settings.fields import problem, variable


def _smtp_url(url: str) -> str:
    """The URL forms `forkable.mail.smtp` speaks; worded after the variable that holds it."""
    if not url.startswith(("smtp://", "smtps://")) or not urlsplit(url).hostname:
        raise problem(
            "must look like smtp://user:pass@host:587 (STARTTLS), "
            "smtps://user:pass@host:465 (TLS), or smtp://host:25 for a local relay"
        )
    parts = urlsplit(url)
    try:
        parts.port  # noqa: B018 (urlsplit checks the port only when asked)
    except ValueError:
        raise problem("has an invalid port") from None
    starttls = parse_qs(parts.query).get("starttls", [""])[-1].lower()
    has_credentials = bool(parts.username or parts.password)
    if parts.scheme == "smtp" and has_credentials and starttls in ("0", "false", "no", "off"):
        raise problem(
            ": starttls=0 would send the SMTP password in clear; "
            "credentials go only over STARTTLS or smtps://"
        )
    return url


SmtpUrl = Annotated[str, AfterValidator(_smtp_url)]


def _address(value: str) -> str:
    local, at, domain = value.partition("@")
    if not at or not local or not domain or any(c.isspace() or c in '<>",' for c in value):
        raise problem(f"must be a bare address like no-reply@example.com, not {value!r}")
    return value


class MailSettings(BaseModel):
    """Mail to users: the SMTP server and the sender address."""

    smtp_url: SmtpUrl | None = variable(
        "FORKABLE_SMTP_URL",
        meaning="mail to users (address verification, password reset, receipts): "
        "`smtp://user:pass@host:587` (STARTTLS), `smtps://user:pass@host:465` (TLS), or "
        "`smtp://host:25` without credentials for a local relay; see [Mail](#mail)",
        shown_default="none: in development each mail is written to `FORKABLE_DATA_DIR/mail/` "
        "as an `.eml` file and its links logged; required in production",
    )
    mail_from: Annotated[str, AfterValidator(_address)] | None = variable(
        "FORKABLE_MAIL_FROM",
        meaning="sender address of mail to users (the From name is the site's)",
        shown_default="`no-reply@<site domain>`",
    )
