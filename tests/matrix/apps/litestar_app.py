"""Litestar (ASGI): ``app`` natively, ``bridged`` through AsgiToWsgi."""

from __future__ import annotations

from collections.abc import AsyncIterator

from litestar import Litestar, Request, Response, get, post, route
from litestar.datastructures import Cookie
from litestar.response import Stream

from bridge import AsgiToWsgi

from . import _common as c

JSON = "application/json"


@route("/hello", http_method=["GET", "HEAD"])
async def hello() -> Response[bytes]:
    return Response(c.hello("litestar"), media_type="text/plain")


@post("/echo", status_code=200)
async def echo(request: Request[object, object, object]) -> Response[bytes]:
    return Response(c.echo(await request.body()), media_type=JSON)


@get("/stream")
async def stream() -> Stream:
    async def pieces() -> AsyncIterator[bytes]:
        for piece in c.chunks():
            yield piece

    return Stream(pieces(), media_type="text/plain")


@get("/headers")
async def headers(request: Request[object, object, object]) -> Response[bytes]:
    found = {name: request.headers.getall(name, []) for name in c.ECHOED_HEADERS}
    return Response(c.headers_body(found), media_type=JSON)


@get("/query")
async def query(request: Request[object, object, object]) -> Response[bytes]:
    raw = request.scope["query_string"].decode("latin-1")
    # Litestar's query dict orders keys by hash (it differs between two processes),
    # so the keys are sorted; the values of one key keep their order.
    pairs = sorted(request.query_params.multi_items(), key=lambda pair: pair[0])
    return Response(c.query_body(raw, pairs), media_type=JSON)


@get("/path/{rest:path}")
async def path(rest: str) -> Response[bytes]:
    return Response(c.path_body(rest.lstrip("/")), media_type=JSON)


@get("/cookies")
async def cookies() -> Response[bytes]:
    return Response(
        b"two cookies\n",
        media_type="text/plain",
        headers={"X-Repeated": "one, two"},  # Litestar's headers are a dict: no repeats
        cookies=[Cookie(key="first", value="1"), Cookie(key="second", value="2", httponly=True)],
    )


app = Litestar(route_handlers=[hello, echo, stream, headers, query, path, cookies])
bridged = AsgiToWsgi(app)
