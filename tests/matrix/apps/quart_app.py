"""Quart (ASGI): ``app`` natively, ``bridged`` through AsgiToWsgi."""

from __future__ import annotations

from collections.abc import AsyncIterator

from quart import Quart, Response, request

from bridge import AsgiToWsgi

from . import _common as c

app = Quart(__name__)
JSON = "application/json"


@app.route("/hello", methods=["GET", "HEAD"])
async def hello() -> Response:
    return Response(c.hello("quart"), mimetype="text/plain")


@app.post("/echo")
async def echo() -> Response:
    return Response(c.echo(await request.get_data(as_text=False)), mimetype=JSON)


@app.get("/stream")
async def stream() -> Response:
    async def pieces() -> AsyncIterator[bytes]:
        for piece in c.chunks():
            yield piece

    return Response(pieces(), mimetype="text/plain")


@app.get("/headers")
async def headers() -> Response:
    found = {name: request.headers.getlist(name) for name in c.ECHOED_HEADERS}
    return Response(c.headers_body(found), mimetype=JSON)


@app.get("/query")
async def query() -> Response:
    raw = request.query_string.decode("latin-1")
    pairs = [(k, v) for k, values in request.args.lists() for v in values]
    return Response(c.query_body(raw, pairs), mimetype=JSON)


@app.get("/path/<path:rest>")
async def path(rest: str) -> Response:
    return Response(c.path_body(rest), mimetype=JSON)


@app.get("/cookies")
async def cookies() -> Response:
    response = Response(b"two cookies\n", mimetype="text/plain")
    response.set_cookie("first", "1")
    response.set_cookie("second", "2", httponly=True)
    response.headers.add("X-Repeated", "one")
    response.headers.add("X-Repeated", "two")
    return response


bridged = AsgiToWsgi(app)
