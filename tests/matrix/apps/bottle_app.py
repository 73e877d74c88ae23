"""Bottle (WSGI): ``app`` natively, ``bridged`` through WsgiToAsgi."""

from __future__ import annotations

from collections.abc import Iterator

import bottle

from bridge import WsgiToAsgi

from . import _common as c

app = bottle.Bottle()
JSON = "application/json"


@app.route("/hello", method=["GET", "HEAD"])
def hello() -> bytes:
    bottle.response.content_type = "text/plain"
    return c.hello("bottle")


@app.post("/echo")
def echo() -> bytes:
    bottle.response.content_type = JSON
    return c.echo(bottle.request.body.read())


@app.get("/stream")
def stream() -> Iterator[bytes]:
    bottle.response.content_type = "text/plain"
    return c.chunks()


@app.get("/headers")
def headers() -> bytes:
    bottle.response.content_type = JSON
    found = {}
    for name in c.ECHOED_HEADERS:
        value = bottle.request.get_header(name)
        found[name] = [] if value is None else [value]
    return c.headers_body(found)


@app.get("/query")
def query() -> bytes:
    bottle.response.content_type = JSON
    raw = bottle.request.query_string
    return c.query_body(raw, bottle.request.query.decode().allitems())


@app.get("/path/<rest:path>")
def path(rest: str) -> bytes:
    bottle.response.content_type = JSON
    return c.path_body(rest)


@app.get("/cookies")
def cookies() -> bytes:
    bottle.response.content_type = "text/plain"
    bottle.response.set_cookie("first", "1")
    bottle.response.set_cookie("second", "2", httponly=True)
    bottle.response.add_header("X-Repeated", "one")
    bottle.response.add_header("X-Repeated", "two")
    return b"two cookies\n"


bridged = WsgiToAsgi(app)
