"""Anonymous pages rendered once per site version and served from memory.

For a visitor who is not signed in, the landing, terms and privacy pages are the same bytes
every time: they depend on the site's manifest and example images and on forkable's
templates, never on the request. So they are rendered once per site version, and each answer
is a dictionary lookup, with a strong ETag (a hash of the bytes) and a 304 when the browser or
a CDN already holds them.

The version is a hash of what the pages are made of (forkable's version, the manifest, the
example pairs). A site reloaded from an edited site.toml (sites_watch) is a new `Site` object:
the next request notices the new object, hashes it, and renders again if the hash changed. So
an edit shows on the very next request this process answers; the cache never needs to be told.

Content-Security-Policy: pages carry no nonce (the policy is the same fixed header on every
response, `script-src 'self'`, no inline script), so sharing bytes across requests weakens
nothing. Were a nonce ever added, a cached page would reuse it across visitors and make it
guessable: such pages must then keep their scripts in files, or leave this cache.

Cache-Control for the anonymous page, `public, max-age=0, s-maxage=60,
stale-while-revalidate=600`, with `Vary: Cookie, Authorization`:

- a CDN (a shared cache, `s-maxage`) keeps the page for 60 s, so a manifest change is seen
  within a minute; for 10 minutes after that it may answer with the old copy once while it
  fetches the new one (`stale-while-revalidate`), so a slow or restarting origin is not felt;
- browsers revalidate on every visit (`max-age=0`): the ETag makes that a bodiless 304, and a
  visitor who has just signed in never gets the anonymous page from their own cache;
- `Vary` keeps requests with a session cookie or an API key off the shared copy for caches that
  honour it. For CDNs that ignore `Vary` (some key only on the URL unless configured), the shared
  copy is still only ever the anonymous page: nothing personal can leak, at worst a signed-in
  visitor sees the "Log in" header there until the CDN is told to bypass its cache for requests
  with the session cookie.

Signed-in visitors' pages carry their balance and CSRF token: `private, no-store`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from fastapi.templating import Jinja2Templates
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from forkable import __version__
from forkable.sites import Site

PUBLIC_CACHE_CONTROL = "public, max-age=0, s-maxage=60, stale-while-revalidate=600"
PRIVATE_CACHE_CONTROL = "private, no-store"
VARY = "Cookie, Authorization"
HTML = "text/html; charset=utf-8"


def site_version(site: Site) -> str:
    """A hash of everything an anonymous page of ``site`` is made of, besides the templates."""
    digest = hashlib.sha256()
    digest.update(__version__.encode())
    digest.update(b"\0")
    digest.update(site.manifest.model_dump_json().encode())
    for example in site.examples:
        digest.update(f"\0{example.name}\0{example.before}\0{example.after}".encode())
    return digest.hexdigest()


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 If-None-Match: `*`, or any listed tag equal to ``etag`` (weak comparison)."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    return any(tag.strip().removeprefix("W/") == etag for tag in if_none_match.split(","))


@dataclass(frozen=True)
class CachedPage:
    body: bytes
    etag: str

    def response(self, if_none_match: str | None) -> Response:
        headers = {"etag": self.etag, "cache-control": PUBLIC_CACHE_CONTROL, "vary": VARY}
        if etag_matches(if_none_match, self.etag):
            return Response(status_code=304, headers=headers)
        return Response(self.body, media_type=HTML, headers=headers)


@dataclass
class _SiteEntry:
    site: Site  # held, so its identity cannot be reused by another object while cached
    version: str
    pages: dict[str, CachedPage] = field(default_factory=dict)


class PageCache:
    """The anonymous pages of every site one app serves, by site id and template name.

    Used from the event loop only (rendering is a few milliseconds, once per version), so it
    needs no lock. It holds one entry per site id ever served: a removed site's few pages stay
    until the process ends, which bounds it by the sites the process has seen.
    """

    def __init__(self, templates: Jinja2Templates) -> None:
        self._templates = templates
        self._sites: dict[str, _SiteEntry] = {}

    def page(self, site: Site, name: str) -> CachedPage:
        entry = self._entry(site)
        cached = entry.pages.get(name)
        if cached is None:
            cached = entry.pages[name] = self._render(site, name)
        return cached

    def _entry(self, site: Site) -> _SiteEntry:
        entry = self._sites.get(site.id)
        if entry is not None and entry.site is site:
            return entry
        # A site object not seen before: a reload. Same content, same pages and ETags.
        version = site_version(site)
        if entry is not None and entry.version == version:
            entry.site = site
            return entry
        entry = self._sites[site.id] = _SiteEntry(site=site, version=version)
        return entry

    def _render(self, site: Site, name: str) -> CachedPage:
        # No request in the context: an anonymous page that reached for it would fail here, in
        # the tests, rather than cache one visitor's details for everyone.
        values = {"site": site, "manifest": site.manifest, "principal": None}
        body = self._templates.get_template(name).render(values).encode()
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        return CachedPage(body=body, etag=etag)


# The cached pages by path, as `forkable.web.pages` routes them.
ANONYMOUS_PAGES = {"/": "landing.html", "/terms": "terms.html", "/privacy": "privacy.html"}


class AnonymousPagesMiddleware:
    """Answers a GET of a cached page that carries no credentials straight from the cache.

    Such a request gets the anonymous page whatever the route would decide (no cookie, no
    API key: no principal), so it need not pass FastAPI's router and exception layers, which
    cost more than everything else it does. A request with any cookie or an Authorization
    header goes the whole way, where a session is looked up and a bad key refused. Sits inside
    site routing (which names the site) and everything that must see each response.
    """

    def __init__(self, app: ASGIApp, *, cache: PageCache) -> None:
        self.app = app
        self.cache = cache

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            name = ANONYMOUS_PAGES.get(scope["path"])
            site = scope.get("state", {}).get("site") if name is not None else None
            if name is not None and site is not None:
                anonymous, if_none_match = _read_headers(scope["headers"])
                if anonymous:
                    scope["endpoint"] = self  # labelled by its path, as its route would be
                    page = self.cache.page(site, name)
                    await page.response(if_none_match)(scope, receive, send)
                    return
        await self.app(scope, receive, send)


def _read_headers(headers: list[tuple[bytes, bytes]]) -> tuple[bool, str | None]:
    """Whether a request carries no credentials (no cookie, no Authorization), and its
    If-None-Match header."""
    if_none_match = None
    for name, value in headers:
        if name in (b"cookie", b"authorization"):
            return False, None
        if name == b"if-none-match":
            if_none_match = value.decode("latin-1")
    return True, if_none_match
