"""Route templates for metric labels: the matched route, prefixes included, never a raw path."""

from __future__ import annotations

from typing import Any

from starlette.routing import Route

from forkable.web.instrumentation import route_template


def endpoint() -> None:
    pass


def scope(path: str, **extra: Any) -> dict[str, Any]:
    return {"type": "http", "path": path, "root_path": "", **extra}


def test_a_router_prefix_is_put_back_in_front_of_the_route() -> None:
    route = Route("/generations/{generation_id}", endpoint)
    found = scope(
        "/api/v1/generations/0123abcd",
        route=route,
        endpoint=endpoint,
        path_params={"generation_id": "0123abcd"},
    )
    assert route_template(found) == "/api/v1/generations/{generation_id}"


def test_a_route_without_parameters() -> None:
    route = Route("/healthz", endpoint)
    assert route_template(scope("/healthz", route=route, path_params={})) == "/healthz"


def test_a_mount_is_its_prefix_and_a_path_parameter() -> None:
    assert route_template(scope("/static/app.css", root_path="/static")) == "/static/{path}"


def test_a_plain_starlette_route_without_a_route_object() -> None:
    found = scope("/api/openapi.json", endpoint=endpoint, path_params={})
    assert route_template(found) == "/api/openapi.json"


def test_nothing_matched() -> None:
    assert route_template(scope("/wp-login.php")) == "unmatched"
    # A route we cannot name safely is never reported by its raw path.
    found = scope("/files/abc", endpoint=endpoint, path_params={"name": "abc"})
    assert route_template(found) == "unmatched"
