"""The baseline: a bare Starlette app answering "hello", served by the same uvicorn."""

from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route


async def hello(_request: object) -> PlainTextResponse:
    return PlainTextResponse("hello")


app = Starlette(routes=[Route("/", hello), Route("/healthz", hello)])
