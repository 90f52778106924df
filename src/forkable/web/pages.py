"""Public pages: landing, terms, privacy, the brand stylesheet and site assets."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from starlette.responses import FileResponse, HTMLResponse, Response

from forkable.web.auth import OptionalPrincipal
from forkable.web.brand import brand_css
from forkable.web.deps import ServicesDep, SiteDep
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


@router.get("/", response_class=HTMLResponse)
async def landing(
    request: Request, site: SiteDep, services: ServicesDep, principal: OptionalPrincipal
) -> Response:
    return render(request, "landing.html", site, await visitor_context(services, principal))


@router.get("/terms", response_class=HTMLResponse)
async def terms(
    request: Request, site: SiteDep, services: ServicesDep, principal: OptionalPrincipal
) -> Response:
    return render(request, "terms.html", site, await visitor_context(services, principal))


@router.get("/privacy", response_class=HTMLResponse)
async def privacy(
    request: Request, site: SiteDep, services: ServicesDep, principal: OptionalPrincipal
) -> Response:
    return render(request, "privacy.html", site, await visitor_context(services, principal))


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
