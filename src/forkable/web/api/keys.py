"""API keys: create (shown once), list, revoke. Only a session may: a key cannot make keys."""

from __future__ import annotations

from fastapi import APIRouter, Response

from forkable.accounts.models import ApiKey
from forkable.accounts.service import create_api_key, list_api_keys, revoke_api_key
from forkable.web.api.schemas import BODY, ApiKeyIn, ApiKeyOut, IdPath, NewApiKeyOut, errors
from forkable.web.auth import SESSION_REQUIRED, SessionUser
from forkable.web.deps import ServicesDep
from forkable.web.errors import ApiError

router = APIRouter(tags=["api keys"])
_SAID = {403: SESSION_REQUIRED}


def _out(row: ApiKey) -> ApiKeyOut:
    return ApiKeyOut(
        id=row.id,
        name=row.name,
        prefix=row.prefix,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
    )


@router.get("/api-keys", response_model=list[ApiKeyOut], responses=errors(401, 403, said=_SAID))
def list_keys(principal: SessionUser, services: ServicesDep) -> list[ApiKeyOut]:
    return [_out(row) for row in list_api_keys(services.database, principal)]


@router.post(
    "/api-keys",
    status_code=201,
    response_model=NewApiKeyOut,
    responses=errors(401, 403, *BODY, 422, said=_SAID),
)
def create_key(body: ApiKeyIn, principal: SessionUser, services: ServicesDep) -> NewApiKeyOut:
    created = create_api_key(services.database, principal, body.name)
    return NewApiKeyOut(**_out(created.row).model_dump(), key=created.key)


@router.delete(
    "/api-keys/{key_id}", status_code=204, responses=errors(401, 403, 404, 422, said=_SAID)
)
def revoke_key(key_id: IdPath, principal: SessionUser, services: ServicesDep) -> Response:
    if not revoke_api_key(services.database, principal, key_id):
        raise ApiError(404, "not_found", "No such API key.")
    return Response(status_code=204)
