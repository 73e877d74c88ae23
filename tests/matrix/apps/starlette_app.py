"""Starlette (ASGI): ``app`` natively, ``bridged`` through AsgiToWsgi."""

from __future__ import annotations

from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from bridge import AsgiToWsgi

from . import _common as c

JSON = "application/json"


async def hello(request: Request) -> Response:
    return PlainTextResponse(c.hello("starlette"))


async def echo(request: Request) -> Response:
    return Response(c.echo(await request.body()), media_type=JSON)


async def _chunks() -> AsyncIterator[bytes]:
    for piece in c.chunks():
        yield piece


async def stream(request: Request) -> Response:
    return StreamingResponse(_chunks(), media_type="text/plain")


async def headers(request: Request) -> Response:
    found = {name: request.headers.getlist(name) for name in c.ECHOED_HEADERS}
    return Response(c.headers_body(found), media_type=JSON)


async def query(request: Request) -> Response:
    raw = request.scope["query_string"].decode("latin-1")
    return Response(c.query_body(raw, request.query_params.multi_items()), media_type=JSON)


async def path(request: Request) -> Response:
    return Response(c.path_body(request.path_params["rest"]), media_type=JSON)


async def cookies(request: Request) -> Response:
    response = PlainTextResponse("two cookies\n")
    response.set_cookie("first", "1")
    response.set_cookie("second", "2", httponly=True)
    response.headers.append("X-Repeated", "one")
    response.headers.append("X-Repeated", "two")
    return response


app = Starlette(
    routes=[
        Route("/hello", hello, methods=["GET", "HEAD"]),
        Route("/echo", echo, methods=["POST"]),
        Route("/stream", stream),
        Route("/headers", headers),
        Route("/query", query),
        Route("/path/{rest:path}", path),
        Route("/cookies", cookies),
    ]
)
bridged = AsgiToWsgi(app)
