"""Public pages: landing, terms, privacy, the brand stylesheet and site assets.

Landing, terms and privacy come from memory for anonymous visitors (see page_cache).
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from starlette.responses import FileResponse, Response

from forkable.web.auth import optional_principal
from forkable.web.brand import brand_css
from forkable.web.deps import SiteDep, get_services, get_site
from forkable.web.page_cache import PRIVATE_CACHE_CONTROL, VARY, PageCache
from forkable.web.templating import render
from forkable.web.visitor import visitor_context

router = APIRouter(include_in_schema=False)

_ASSET_TYPES = {
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
    ".ico": "image/x-icon",
    ".css": "text/css; charset=utf-8",
}
_ASSET_CACHE = "public, max-age=3600"


async def _public_page(request: Request, name: str) -> Response:
    """The anonymous page from memory; a signed-in visitor's own page, rendered for them.

    A plain Starlette route, not a FastAPI one: FastAPI's dependency solving cost more than
    the rest of the request for a page served from memory (docs/benchmarks.md, landing).
    The same dependencies are called directly, so a bad API key is still a 401 and a cookie
    that names no session still counts as anonymous.
    """
    site = await get_site(request)
    services = await get_services(request)
    principal = await optional_principal(request, services, site)
    if principal is None:
        cache: PageCache = request.app.state.page_cache
        return cache.page(site, name).response(request.headers.get("if-none-match"))
    response = render(request, name, site, await visitor_context(services, principal))
    response.headers["cache-control"] = PRIVATE_CACHE_CONTROL
    response.headers["vary"] = VARY
    return response


async def landing(request: Request) -> Response:
    return await _public_page(request, "landing.html")


async def terms(request: Request) -> Response:
    return await _public_page(request, "terms.html")


async def privacy(request: Request) -> Response:
    return await _public_page(request, "privacy.html")


for _path, _endpoint in (("/", landing), ("/terms", terms), ("/privacy", privacy)):
    router.add_route(_path, _endpoint, methods=["GET"], include_in_schema=False)


@router.get("/brand.css")
async def brand_stylesheet(site: SiteDep) -> Response:
    return Response(
        brand_css(site.manifest.brand),
        media_type="text/css",
        headers={"cache-control": _ASSET_CACHE},
    )


@router.get("/assets/{path:path}")
def site_asset(path: str, site: SiteDep) -> Response:
    root = site.assets_folder.resolve()
    target = (root / path).resolve()
    # Only files inside the site's assets folder, of the types a manifest may name.
    if not target.is_relative_to(root) or not target.is_file():
        raise HTTPException(status_code=404, detail="No such file.")
    media_type = _ASSET_TYPES.get(target.suffix.lower())
    if media_type is None:
        raise HTTPException(status_code=404, detail="No such file.")
    return FileResponse(target, media_type=media_type, headers={"cache-control": _ASSET_CACHE})
