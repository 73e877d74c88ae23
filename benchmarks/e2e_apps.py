"""The applications the end-to-end benchmark serves, one importable name each.

Names are resolved lazily (module ``__getattr__``), so a server process imports
only the framework and bridge it serves. Every app answers ``GET /`` with the
13-byte ``Hello, world!`` as ``text/plain``.

* ``flask_<bridge>``: a Flask hello through a WSGI->ASGI bridge (for uvicorn);
  ``flask_wsgi``: the same Flask app as plain WSGI (for gunicorn sync).
* ``starlette_<bridge>``: a Starlette hello through an ASGI->WSGI bridge (for
  gunicorn gthread and waitress); ``hello_<bridge>``: a bare ASGI hello (two
  ``send`` calls) through one, for :mod:`benchmarks.thread_cpu`;
  ``plain_wsgi``: a hand-written WSGI hello;
  ``hop_wsgi``: the same hello plus one ``run_coroutine_threadsafe`` round
  trip to a background event loop, issue 5's one-hop floor (a bridge with a
  cheaper hand-off than the standard library's can beat it);
  ``hop_starlette``: the Starlette hello awaited in that one round trip, with a
  fixed scope and no checks: a reference for a one-loop bridge serving
  Starlette, measured in the same server rather than added up;
:func:`starlette_cost_us` measures the Starlette hello on its own, awaited directly
on an event loop with no server and no bridge: the share of an end-to-end request
that is Starlette's (the runner reports it next to the end-to-end table).
"""

from __future__ import annotations

from typing import Any

from benchmarks.peers import ENVIRON, SCOPE, wrap_asgi, wrap_wsgi

HELLO = b"Hello, world!"


def plain_wsgi(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "13")])
    return [HELLO]


def _background_loop() -> Any:
    import asyncio
    import threading

    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True).start()
    return loop


def _hop_wsgi() -> Any:
    import asyncio

    loop = _background_loop()

    async def work() -> bytes:
        return HELLO

    def hop_wsgi(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        body = asyncio.run_coroutine_threadsafe(work(), loop).result()
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "13")])
        return [body]

    return hop_wsgi


def _hop_starlette() -> Any:
    import asyncio

    loop = _background_loop()
    app = _starlette()

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def work() -> list[dict[str, Any]]:
        sent: list[dict[str, Any]] = []

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await app({**SCOPE, "state": {}}, receive, send)
        return sent

    def hop_starlette(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start, body = asyncio.run_coroutine_threadsafe(work(), loop).result()
        if start["status"] != 200:
            raise RuntimeError(f"the Starlette hello answered {start['status']}")
        headers = [
            (name.decode("latin-1"), value.decode("latin-1")) for name, value in start["headers"]
        ]
        start_response("200 OK", headers)
        return [body["body"]]

    return hop_starlette


def starlette_cost_us(requests: int = 20000) -> float:
    """µs per Starlette hello awaited directly (scope built as the bridge builds it)."""
    import asyncio
    import io
    import time

    from bridge._scope import build_scope

    app = _starlette()
    environ = {**ENVIRON, "wsgi.input": io.BytesIO()}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        return None

    async def run() -> float:
        for _ in range(requests // 10):  # warm-up
            await app(build_scope(environ, state=None, extensions={}), receive, send)
        start = time.perf_counter()
        for _ in range(requests):
            await app(build_scope(environ, state=None, extensions={}), receive, send)
        return (time.perf_counter() - start) / requests * 1e6

    return asyncio.run(run())


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


async def _asgi_hello(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    headers = [(b"content-type", b"text/plain"), (b"content-length", b"13")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": HELLO})


_cache: dict[str, Any] = {}


def __getattr__(name: str) -> Any:
    if name in _cache:
        return _cache[name]
    framework, _, bridge = name.partition("_")
    if name == "hop_wsgi":
        app = _hop_wsgi()
    elif name == "hop_starlette":
        app = _hop_starlette()
    elif framework == "flask" and bridge == "wsgi":
        app = _flask()
    elif framework == "flask" and bridge:
        app = wrap_wsgi(bridge, _flask())
    elif framework == "starlette" and bridge:
        app = wrap_asgi(bridge, _starlette())
    elif framework == "hello" and bridge:
        app = wrap_asgi(bridge, _asgi_hello)
    else:
        raise AttributeError(name)
    _cache[name] = app
    return app
