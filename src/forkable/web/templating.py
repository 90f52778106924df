"""Jinja2 templates, rendered with the request's site in the context."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates
from starlette.responses import HTMLResponse

from forkable import __version__
from forkable.sites import Site

TEMPLATES_DIR = Path(__file__).parent / "templates"


def build_templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
    templates.env.globals["forkable_version"] = __version__
    templates.env.filters["money"] = format_money
    return templates


def format_money(cents: int, currency: str) -> str:
    """``499, "usd"`` -> ``$4.99``; other currencies as ``4.99 EUR``."""
    symbols = {"usd": "$", "eur": "€", "gbp": "£", "cad": "CA$", "aud": "A$"}
    amount = f"{cents / 100:,.2f}"
    symbol = symbols.get(currency)
    return f"{symbol}{amount}" if symbol else f"{amount} {currency.upper()}"


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
