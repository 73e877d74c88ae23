"""The applications the end-to-end benchmark serves, one importable name each.

Names are resolved lazily (module ``__getattr__``), so a server process imports
only the framework and bridge it serves. Every app answers ``GET /`` with the
13-byte ``Hello, world!`` as ``text/plain``.

* ``flask_<bridge>``: a Flask hello through a WSGI->ASGI bridge (for uvicorn);
  ``flask_wsgi``: the same Flask app as plain WSGI (for gunicorn sync).
* ``starlette_<bridge>``: a Starlette hello through an ASGI->WSGI bridge (for
  gunicorn gthread and waitress); ``plain_wsgi``: a hand-written WSGI hello;
  ``hop_wsgi``: the same hello plus one ``run_coroutine_threadsafe`` round
  trip to a background event loop, the floor of any ASGI->WSGI bridge;
  ``starlette_thread_loop``: the Starlette hello run on an event loop of each
  WSGI thread's own, inside that thread: no hop at all. Not a usable bridge
  (each thread's requests see a different loop from the lifespan's, which
  breaks loop-bound state such as connection pools made at startup); it
  measures what Starlette itself costs on that server.
"""

from __future__ import annotations

from typing import Any

from benchmarks.peers import wrap_asgi, wrap_wsgi

HELLO = b"Hello, world!"


def plain_wsgi(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "13")])
    return [HELLO]


def _hop_wsgi() -> Any:
    import asyncio
    import threading

    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True).start()

    async def work() -> bytes:
        return HELLO

    def hop_wsgi(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        body = asyncio.run_coroutine_threadsafe(work(), loop).result()
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "13")])
        return [body]

    return hop_wsgi


def _starlette_thread_loop() -> Any:
    import asyncio
    import threading

    from bridge._http import status_line
    from bridge._scope import build_scope

    app = _starlette()
    local = threading.local()

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    def starlette_thread_loop(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        loop = getattr(local, "loop", None)
        if loop is None:
            loop = local.loop = asyncio.new_event_loop()
        messages: list[dict[str, Any]] = []

        async def send(message: dict[str, Any]) -> None:
            messages.append(message)

        scope = build_scope(environ, state=None, extensions={})
        loop.run_until_complete(app(scope, receive, send))
        start, *bodies = messages
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in start["headers"]]
        start_response(status_line(start["status"]), headers)
        return [b"".join(m.get("body", b"") for m in bodies)]

    return starlette_thread_loop


def _flask() -> Any:
    from flask import Flask, Response

    app = Flask("bench")

    @app.get("/")
    def hello() -> Response:
        return Response(HELLO, mimetype="text/plain")

    return app


def _starlette() -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    async def hello(request: Request) -> PlainTextResponse:
        return PlainTextResponse(HELLO)

    return Starlette(routes=[Route("/", hello)])


_cache: dict[str, Any] = {}


def __getattr__(name: str) -> Any:
    if name in _cache:
        return _cache[name]
    framework, _, bridge = name.partition("_")
    if name == "hop_wsgi":
        app = _hop_wsgi()
    elif name == "starlette_thread_loop":
        app = _starlette_thread_loop()
    elif framework == "flask" and bridge == "wsgi":
        app = _flask()
    elif framework == "flask" and bridge:
        app = wrap_wsgi(bridge, _flask())
    elif framework == "starlette" and bridge:
        app = wrap_asgi(bridge, _starlette())
    else:
        raise AttributeError(name)
    _cache[name] = app
    return app
