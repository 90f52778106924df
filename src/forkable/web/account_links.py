"""Where mailed account links point, and the development shortcut to the verification link.

Links go to the site's own domain in production (never to whatever host a request arrived
on) and to the address the browser used otherwise (`{id}.localhost:8000` under `make run`).

Development only: the browser that signed up (or asked for the link again) also gets the
link in a cookie, so the app page can offer it in one click to someone trying forkable
without a mail server. The raw token is never written to the database for this; production
never sets the cookie and never reads it.
"""

from __future__ import annotations

from fastapi import Request, Response

from forkable.accounts.verification import VERIFY_PATH
from forkable.services import Services
from forkable.settings import Settings
from forkable.sites import Site

DEV_LINK_COOKIE = "forkable_dev_verify_link"
_DEV_LINK_SECONDS = 48 * 60 * 60  # as long as the link itself works


def links_base_url(request: Request, services: Services, site: Site) -> str:
    if services.settings.is_production:
        return f"https://{site.manifest.site.domain}"
    return str(request.base_url)


def remember_dev_link(response: Response, settings: Settings, link: str | None) -> None:
    """Development: hand the verification link to this browser (see the module's note)."""
    if settings.is_production or link is None:
        return
    path, _, query = link.partition("?")
    if not path.endswith(VERIFY_PATH) or not query.startswith("token="):
        return
    response.set_cookie(
        DEV_LINK_COOKIE,
        query.removeprefix("token="),
        max_age=_DEV_LINK_SECONDS,
        path="/",
        httponly=True,
        samesite="lax",
    )


def dev_link(request: Request, settings: Settings) -> str | None:
    """The verification link handed to this browser in development; None in production."""
    if settings.is_production:
        return None
    token = request.cookies.get(DEV_LINK_COOKIE)
    if not token or len(token) > 128 or not token.replace("-", "").replace("_", "").isalnum():
        return None
    return f"{VERIFY_PATH}?token={token}"
