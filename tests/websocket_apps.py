"""WebSocket apps for tests/test_websocket*.py, served by real servers through the bridge.

WSGI -> ASGI (``WsgiToAsgi`` on uvicorn, hypercorn, daphne, granian):

* ``flask_sock_asgi``: a Flask app with Flask-Sock routes;
* ``plain_asgi``: a bare WSGI app on simple-websocket.

ASGI -> WSGI (``AsgiToWsgi`` on gunicorn gthread and werkzeug):

* ``starlette_wsgi`` and ``fastapi_wsgi``: WebSocket endpoints (and the
  same apps unwrapped, ``starlette_app``/``fastapi_app``, for native runs).

Every app has the same routes, so one test body runs against all of them:

``/echo``    echoes each message (text or bytes) until the client closes. A
             text message ``close:<code>`` makes the app close with that code
             and the reason ``bye``. Subprotocol ``chat`` is accepted if offered.
``/private`` refuses the connection (401 where the app can say so, else a close).
``/stats``   (HTTP) JSON: live threads, open fds, WebSocket sessions running, and
             the close code the app saw last.
``/boom``    raises after accepting.
"""

# No "from __future__ import annotations": FastAPI resolves the endpoints'
# annotations (WebSocket, imported inside make_fastapi_app) when they are defined.

import json
import os
import sys
import threading
from typing import Any

from bridge import AsgiToWsgi, WsgiToAsgi

WORKERS = int(os.environ.get("WS_WORKERS", "16"))
_state: dict[str, Any] = {"last_close": None, "sessions": 0, "connects": 0}
_lock = threading.Lock()
_POOL_THREADS = ("bridge-wsgi", "ThreadPoolExecutor")


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _busy_workers() -> int:
    busy = 0
    for adapter in _ADAPTERS:
        executor = adapter._executor
        if executor is not None:
            busy += len(executor.busy)
    return busy


def _hijacked_threads() -> int:
    """Threads inside AsgiToWsgi's WebSocket session (a host thread per live connection)."""
    count = 0
    for top in sys._current_frames().values():
        frame: Any = top
        while frame is not None:
            if frame.f_code.co_name == "serve_upgrade":
                count += 1
                break
            frame = frame.f_back
    return count


def _stats() -> dict[str, Any]:
    names = [thread.name for thread in threading.enumerate()]
    with _lock:
        return {
            # Pool threads (the bridge's, gunicorn gthread's) stay once started; every
            # other thread must end with its connection.
            "other_threads": sum(1 for name in names if not name.startswith(_POOL_THREADS)),
            "hijacked_threads": _hijacked_threads(),
            "busy_workers": _busy_workers(),
            "fds": _open_fds(),
            "sessions": _state["sessions"],
            "last_close": _state["last_close"],
            "connects": _state["connects"],
        }


def _session(delta: int) -> None:
    with _lock:
        _state["sessions"] += delta


def _connected() -> None:
    with _lock:
        _state["connects"] += 1


def _closed(code: Any) -> None:
    with _lock:
        _state["last_close"] = None if code is None else int(code)


# -- WSGI apps (for WsgiToAsgi) ----------------------------------------------------


def _wsgi_echo(ws: Any) -> None:
    """The echo loop on a simple-websocket Server."""
    from simple_websocket import ConnectionClosed

    _session(1)
    try:
        while True:
            data = ws.receive()
            if isinstance(data, str) and data.startswith("close:"):
                ws.close(int(data[6:]), "bye")
                return
            ws.send(data)
    except ConnectionClosed as closed:
        _closed(closed.reason)
        raise
    finally:
        _session(-1)


def make_flask_app() -> Any:
    from flask import Flask, abort, request
    from flask_sock import Sock

    app = Flask(__name__)
    app.config["SOCK_SERVER_OPTIONS"] = {"subprotocols": ["chat"], "receive_bytes": 65536}
    sock = Sock(app)

    @app.before_request
    def refuse_private() -> None:
        if request.path == "/private":
            abort(401)

    @sock.route("/echo")
    def echo(ws: Any) -> None:
        _wsgi_echo(ws)

    @sock.route("/private")
    def private(ws: Any) -> None:  # never reached: before_request refuses
        raise AssertionError("the refused route ran")

    @sock.route("/boom")
    def boom(ws: Any) -> None:
        ws.send("about to fail")
        raise RuntimeError("boom after accept")

    @app.get("/stats")
    def stats() -> Any:
        return _stats()

    return app


def plain_wsgi_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    """simple-websocket without a framework."""
    from simple_websocket import ConnectionClosed, Server

    path = environ.get("PATH_INFO")
    if path == "/stats":
        body = json.dumps(_stats()).encode()
        start_response("200 OK", [("Content-Type", "application/json")])
        return [body]
    if path == "/private":
        start_response("401 Unauthorized", [("Content-Type", "text/plain")])
        return [b"go away"]
    ws = Server.accept(environ, subprotocols=["chat"], receive_bytes=65536)
    if path == "/boom":
        ws.send("about to fail")
        raise RuntimeError("boom after accept")
    try:
        _wsgi_echo(ws)
    except ConnectionClosed:
        pass
    start_response("200 OK", [])
    return []


flask_sock_asgi = WsgiToAsgi(make_flask_app(), workers=WORKERS)
plain_asgi = WsgiToAsgi(plain_wsgi_app, workers=WORKERS)
_ADAPTERS = [flask_sock_asgi, plain_asgi]


# -- ASGI apps (for AsgiToWsgi) -----------------------------------------------------


async def _echo(ws: Any) -> None:
    """``/echo`` on Starlette and FastAPI alike (FastAPI's WebSocket is Starlette's)."""
    from starlette.websockets import WebSocketDisconnect

    _connected()
    subprotocol = "chat" if "chat" in ws.scope.get("subprotocols", []) else None
    await ws.accept(subprotocol=subprotocol)
    _session(1)
    try:
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                _closed(message.get("code"))
                return
            text = message.get("text")
            if text is not None and text.startswith("close:"):
                await ws.close(int(text[6:]), "bye")
                return
            if text is not None:
                await ws.send_text(text)
            else:
                await ws.send_bytes(message["bytes"])
    except WebSocketDisconnect as gone:
        _closed(gone.code)
    finally:
        _session(-1)


def make_starlette_app() -> Any:
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route, WebSocketRoute
    from starlette.websockets import WebSocket

    async def private(ws: WebSocket) -> None:
        _connected()
        await ws.close(1008)

    async def boom(ws: WebSocket) -> None:
        await ws.accept()
        await ws.send_text("about to fail")
        raise RuntimeError("boom after accept")

    async def state(ws: WebSocket) -> None:
        await ws.accept()
        await ws.send_text(str(ws.scope.get("state", {}).get("started")))
        await ws.close()

    async def stats(request: Any) -> JSONResponse:
        return JSONResponse(_stats())

    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def lifespan(app: Any) -> Any:
        yield {"started": "yes"}

    return Starlette(
        routes=[
            WebSocketRoute("/echo", _echo),
            WebSocketRoute("/private", private),
            WebSocketRoute("/boom", boom),
            WebSocketRoute("/state", state),
            Route("/stats", stats),
        ],
        lifespan=lifespan,
    )


def make_fastapi_app() -> Any:
    from contextlib import asynccontextmanager

    from fastapi import FastAPI, WebSocket

    @asynccontextmanager
    async def lifespan(app: Any) -> Any:
        yield {"started": "yes"}

    app = FastAPI(lifespan=lifespan)

    @app.websocket("/state")
    async def state(ws: WebSocket) -> None:
        await ws.accept()
        await ws.send_text(str(ws.scope.get("state", {}).get("started")))
        await ws.close()

    @app.websocket("/echo")
    async def echo(ws: WebSocket) -> None:
        await _echo(ws)

    @app.websocket("/private")
    async def private(ws: WebSocket) -> None:
        _connected()
        await ws.close(1008)

    @app.websocket("/boom")
    async def boom(ws: WebSocket) -> None:
        await ws.accept()
        await ws.send_text("about to fail")
        raise RuntimeError("boom after accept")

    @app.get("/stats")
    async def stats() -> dict[str, Any]:
        return _stats()

    return app


starlette_app = make_starlette_app()
fastapi_app = make_fastapi_app()
starlette_wsgi = AsgiToWsgi(starlette_app)
fastapi_wsgi = AsgiToWsgi(fastapi_app)
