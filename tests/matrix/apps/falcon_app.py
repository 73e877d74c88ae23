"""Falcon (WSGI): ``app`` natively, ``bridged`` through WsgiToAsgi."""

from __future__ import annotations

from collections.abc import Iterator

import falcon

from bridge import WsgiToAsgi

from . import _common as c

JSON = "application/json"


def _body(req: falcon.Request) -> bytes:
    # bounded_stream reads CONTENT_LENGTH bytes; a body without one (chunked)
    # is read to its end only when the server says the input ends there.
    if req.content_length is None and req.env.get("wsgi.input_terminated"):
        return bytes(req.stream.read())
    return bytes(req.bounded_stream.read())


class Hello:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type = "text/plain"
        resp.data = c.hello("falcon")

    on_head = on_get


class Echo:
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type = JSON
        resp.data = c.echo(_body(req))


class Stream:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type = "text/plain"
        pieces: Iterator[bytes] = c.chunks()
        resp.stream = pieces


class Headers:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        found = {}
        for name in c.ECHOED_HEADERS:
            value = req.get_header(name)
            found[name] = [] if value is None else [value]
        resp.content_type = JSON
        resp.data = c.headers_body(found)


class Query:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        pairs = []
        for key, value in req.params.items():
            pairs += [(key, v) for v in (value if isinstance(value, list) else [value])]
        resp.content_type = JSON
        resp.data = c.query_body(req.query_string, pairs)


class Path:
    def on_get(self, req: falcon.Request, resp: falcon.Response, rest: str) -> None:
        resp.content_type = JSON
        resp.data = c.path_body(rest)


class Cookies:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type = "text/plain"
        resp.set_cookie("first", "1", secure=False)
        resp.set_cookie("second", "2", secure=False, http_only=True)
        resp.append_header("X-Repeated", "one")
        resp.append_header("X-Repeated", "two")
        resp.data = b"two cookies\n"


app = falcon.App()
app.req_options.keep_blank_qs_values = True
app.add_route("/hello", Hello())
app.add_route("/echo", Echo())
app.add_route("/stream", Stream())
app.add_route("/headers", Headers())
app.add_route("/query", Query())
app.add_route("/path/{rest:path}", Path())
app.add_route("/cookies", Cookies())
bridged = WsgiToAsgi(app)
