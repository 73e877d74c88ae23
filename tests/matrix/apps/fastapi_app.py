"""FastAPI (ASGI): ``app`` natively, ``bridged`` through AsgiToWsgi."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse, Response, StreamingResponse

from bridge import AsgiToWsgi

from . import _common as c

JSON = "application/json"


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    c.lifespan_started()
    yield
    c.lifespan_stopped()


app = FastAPI(lifespan=lifespan)


@app.api_route("/hello", methods=["GET", "HEAD"])
async def hello() -> Response:
    return PlainTextResponse(c.hello("fastapi"))


@app.post("/echo")
async def echo(request: Request) -> Response:
    return Response(c.echo(await request.body()), media_type=JSON)


async def _chunks() -> AsyncIterator[bytes]:
    for piece in c.chunks():
        yield piece


@app.get("/stream")
async def stream() -> Response:
    return StreamingResponse(_chunks(), media_type="text/plain")


@app.get("/headers")
async def headers(request: Request) -> Response:
    found = {name: request.headers.getlist(name) for name in c.ECHOED_HEADERS}
    return Response(c.headers_body(found), media_type=JSON)


@app.get("/query")
async def query(request: Request) -> Response:
    raw = request.scope["query_string"].decode("latin-1")
    return Response(c.query_body(raw, request.query_params.multi_items()), media_type=JSON)


@app.get("/path/{rest:path}")
async def path(rest: str) -> Response:
    return Response(c.path_body(rest), media_type=JSON)


@app.get("/cookies")
async def cookies() -> Response:
    response = PlainTextResponse("two cookies\n")
    response.set_cookie("first", "1")
    response.set_cookie("second", "2", httponly=True)
    response.headers.append("X-Repeated", "one")
    response.headers.append("X-Repeated", "two")
    return response


@app.get("/worker")
async def worker() -> Response:
    return Response(c.worker_body(), media_type=JSON)


@app.get("/sleep/{seconds}")
async def sleep(seconds: float) -> Response:
    c.request_busy()
    await asyncio.sleep(min(seconds, c.MAX_SLEEP))
    return PlainTextResponse("slept\n")


bridged = AsgiToWsgi(app)
