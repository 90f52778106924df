"""`/api/docs`: the API reference, rendered on the server from the OpenAPI document.

The usual Swagger UI loads its code from a CDN, which our pages never do (and the CSP forbids);
a plain page generated from the same document reads just as well and works offline.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from forkable.web.deps import SiteDep
from forkable.web.templating import render

router = APIRouter(include_in_schema=False)
_METHODS = ("get", "post", "put", "patch", "delete")


@dataclass
class Field:
    name: str
    type: str
    required: bool
    description: str = ""


@dataclass
class Endpoint:
    method: str
    path: str
    summary: str
    description: str
    parameters: list[Field] = field(default_factory=list)
    body: list[Field] = field(default_factory=list)
    body_type: str | None = None
    responses: list[tuple[str, str]] = field(default_factory=list)


def _type(schema: dict[str, Any]) -> str:
    if "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[-1]
    if "anyOf" in schema:
        return " or ".join(_type(option) for option in schema["anyOf"])
    if schema.get("type") == "array":
        return f"array of {_type(schema.get('items', {}))}"
    return str(schema.get("type", "any"))


def _schema_fields(document: dict[str, Any], schema: dict[str, Any]) -> list[Field]:
    if "$ref" in schema:
        name = str(schema["$ref"]).rsplit("/", 1)[-1]
        schema = document.get("components", {}).get("schemas", {}).get(name, {})
    required = set(schema.get("required", []))
    return [
        Field(name, _type(prop), name in required, str(prop.get("description", "")))
        for name, prop in schema.get("properties", {}).items()
    ]


def endpoints(document: dict[str, Any]) -> dict[str, list[Endpoint]]:
    """The document's operations, grouped by tag, in path order."""
    groups: dict[str, list[Endpoint]] = {}
    for path, item in sorted(document.get("paths", {}).items()):
        for method in _METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            endpoint = Endpoint(
                method=method.upper(),
                path=path,
                summary=str(operation.get("summary", "")),
                description=str(operation.get("description", "")),
                parameters=[
                    Field(
                        p["name"],
                        f"{p.get('in')}: {_type(p.get('schema', {}))}",
                        bool(p.get("required")),
                        str(p.get("description", "")),
                    )
                    for p in operation.get("parameters", [])
                ],
                responses=[
                    (code, str(answer.get("description", "")))
                    for code, answer in operation.get("responses", {}).items()
                ],
            )
            content = operation.get("requestBody", {}).get("content", {})
            for media_type, body in content.items():
                endpoint.body_type = media_type
                endpoint.body = _schema_fields(document, body.get("schema", {}))
            groups.setdefault(str((operation.get("tags") or ["other"])[0]), []).append(endpoint)
    return groups


@router.get("/api/docs")
async def api_docs(request: Request, site: SiteDep) -> Response:
    document = request.app.openapi()
    return render(
        request, "api_docs.html", site, {"groups": endpoints(document), "principal": None}
    )
