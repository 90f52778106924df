"""Jinja2 templates, rendered with the request's site in the context."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates
from starlette.responses import HTMLResponse

from forkable import __version__
from forkable.payments.money import format_money
from forkable.sites import Site

TEMPLATES_DIR = Path(__file__).parent / "templates"

__all__ = ["TEMPLATES_DIR", "build_templates", "format_money", "render"]


def build_templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
    templates.env.globals["forkable_version"] = __version__
    templates.env.filters["money"] = format_money
    return templates


def render(
    request: Request,
    name: str,
    site: Site | None,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
) -> HTMLResponse:
    templates: Jinja2Templates = request.app.state.templates
    values: dict[str, Any] = {"site": site, "manifest": site.manifest if site else None}
    values.update(context or {})
    return templates.TemplateResponse(request, name, values, status_code=status_code)
