"""Flask (WSGI): ``app`` natively, ``bridged`` through WsgiToAsgi."""

from __future__ import annotations

from flask import Flask, Response, request

from bridge import WsgiToAsgi

from . import _common as c

app = Flask(__name__)
JSON = "application/json"


@app.route("/hello", methods=["GET", "HEAD"])
def hello() -> Response:
    return Response(c.hello("flask"), mimetype="text/plain")


@app.post("/echo")
def echo() -> Response:
    return Response(c.echo(request.get_data()), mimetype=JSON)


@app.get("/stream")
def stream() -> Response:
    return Response(c.chunks(), mimetype="text/plain")


@app.get("/headers")
def headers() -> Response:
    found = {name: request.headers.getlist(name) for name in c.ECHOED_HEADERS}
    return Response(c.headers_body(found), mimetype=JSON)


@app.get("/query")
def query() -> Response:
    raw = request.query_string.decode("latin-1")
    pairs = [(k, v) for k, values in request.args.lists() for v in values]
    return Response(c.query_body(raw, pairs), mimetype=JSON)


@app.get("/path/<path:rest>")
def path(rest: str) -> Response:
    return Response(c.path_body(rest), mimetype=JSON)


@app.get("/cookies")
def cookies() -> Response:
    response = Response(b"two cookies\n", mimetype="text/plain")
    response.set_cookie("first", "1")
    response.set_cookie("second", "2", httponly=True)
    response.headers.add("X-Repeated", "one")
    response.headers.add("X-Repeated", "two")
    return response


bridged = WsgiToAsgi(app)
