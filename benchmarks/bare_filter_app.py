"""The baseline of the waiting benchmark: a bare FastAPI endpoint that runs the same filter.

`POST /filter` takes the photo as the request body, decodes it, runs `coloring_book` and answers
the PNG (encoded as forkable stores results), in FastAPI's thread pool: an image service with nothing else (no accounts, ledger,
queue, storage or status to follow). Served by the same uvicorn as forkable.
"""

import io

from fastapi import FastAPI, Request, Response
from PIL import Image
from starlette.concurrency import run_in_threadpool

from forkable.generations.result_png import encode_result_png
from forkable.providers.local import apply_filter

app = FastAPI()


@app.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/filter")
async def filter_photo(request: Request) -> Response:
    data = await request.body()
    return Response(await run_in_threadpool(_filter, data), media_type="image/png")


def _filter(data: bytes) -> bytes:
    image = Image.open(io.BytesIO(data))
    image.load()
    # The same filter and the same PNG encoding as forkable's job.
    return encode_result_png(apply_filter("coloring_book", image.convert("RGB")))
