"""The baseline: a bare Starlette app answering "hello", and a static ~2 KB page, served by the
same uvicorn."""

from starlette.applications import Starlette
from starlette.responses import HTMLResponse, PlainTextResponse
from starlette.routing import Route

# A page of about 2 KB, built once: what a landing page served from memory costs at best.
_PARAGRAPH = "<p>Upload a photo, wait a few seconds, download or print the result.</p>\n"
PAGE = (
    "<!doctype html><html lang=en><head><meta charset=utf-8><title>Static page</title></head>"
    "<body><main>\n" + _PARAGRAPH * 26 + "</main></body></html>\n"
).encode()


async def hello(_request: object) -> PlainTextResponse:
    return PlainTextResponse("hello")


async def page(_request: object) -> HTMLResponse:
    return HTMLResponse(PAGE)


app = Starlette(routes=[Route("/", hello), Route("/healthz", hello), Route("/page", page)])
