"""The admin console's forms: grant, revoke, disable, enable, refund. They work without JS.

Each posts the page's CSRF token, runs one `forkable.admin.service` action and redirects back
with `?done=...` (post/redirect/get); a refused action renders its page again with the reason.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from forkable.accounts.service import Principal
from forkable.admin import service
from forkable.admin.service import Actor, AdminError, InvalidInput
from forkable.db import Database
from forkable.sites import Site
from forkable.web.account_links import links_base_url
from forkable.web.admin_pages import AdminPage, purchases_page, to_login, user_page
from forkable.web.api.schemas import UserIdPath
from forkable.web.auth import check_csrf
from forkable.web.deps import ServicesDep, SiteDep
from forkable.web.errors import REFUSAL_ANSWERS, ApiError

router = APIRouter(prefix="/admin", include_in_schema=False)


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


async def _form(request: Request, principal: Principal) -> FormData:
    if principal.via == "session":
        await check_csrf(request, principal)
    return await request.form()


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _amount(form: FormData) -> int:
    text = _text(form, "amount").strip().replace(",", "").replace("_", "")
    if not text.isdigit() or len(text) > 9:
        raise InvalidInput(f"Enter a whole number of tokens from 1 to {service.MAX_TOKENS:,}.")
    return int(text)


@dataclass(frozen=True)
class _Target:
    """What an action on a user works with: the site's database and the site itself."""

    database: Database
    site: Site
    links_base_url: str  # where a mailed link points


def _user_action(name: str, target: _Target, actor: Actor, user_id: int, form: FormData) -> object:
    reason = _text(form, "reason")
    database = target.database
    actions: dict[str, Callable[[], object]] = {
        "grant": lambda: service.grant_tokens(database, actor, user_id, _amount(form), reason),
        "revoke": lambda: service.revoke_tokens(database, actor, user_id, _amount(form), reason),
        "disable": lambda: service.disable_user(database, actor, user_id, reason),
        "enable": lambda: service.enable_user(database, actor, user_id, reason),
        "resend-verification": lambda: service.resend_verification(
            database, actor, target.site, user_id, base_url=target.links_base_url
        ),
    }
    return actions[name]()


@router.post("/users/{user_id}/{action}")
async def user_action_form(
    user_id: UserIdPath,
    action: str,
    request: Request,
    site: SiteDep,
    services: ServicesDep,
    principal: AdminPage,
) -> Response:
    if action not in ("grant", "revoke", "disable", "enable", "resend-verification"):
        raise ApiError(404, "not_found", "There is no such action.")
    if principal is None:
        return to_login(request, f"/admin/users/{user_id}")
    form = await _form(request, principal)
    actor = Actor.from_principal(principal, client_ip(request))
    try:
        target = _Target(services.database, site, links_base_url(request, services, site))
        await run_in_threadpool(_user_action, action, target, actor, user_id, form)
    except AdminError as exc:
        status = REFUSAL_ANSWERS[exc.reason].status
        return await user_page(
            request, site, services, principal, user_id, error=str(exc), status_code=status
        )
    return RedirectResponse(f"/admin/users/{user_id}?done={action}", status_code=303)


def _back(form: FormData) -> str:
    """Where a refund form came from: an admin page of this site, nothing else."""
    back = _text(form, "back")
    if back.startswith("/admin/") and not back.startswith("//") and "\\" not in back:
        return back.split("?", 1)[0]
    return "/admin/purchases"


@router.post("/purchases/{purchase_id}/refund")
async def refund_form(
    purchase_id: str,
    request: Request,
    site: SiteDep,
    services: ServicesDep,
    principal: AdminPage,
) -> Response:
    if principal is None:
        return to_login(request, "/admin/purchases")
    form = await _form(request, principal)
    actor = Actor.from_principal(principal, client_ip(request))
    try:
        await run_in_threadpool(
            service.refund_purchase,
            services.database,
            services.payments,
            actor,
            purchase_id,
            _text(form, "reason"),
        )
    except AdminError as exc:
        status = REFUSAL_ANSWERS[exc.reason].status
        return await purchases_page(
            request, site, services, principal, error=str(exc), status_code=status
        )
    return RedirectResponse(f"{_back(form)}?done=refund", status_code=303)
