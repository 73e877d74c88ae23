"""The app that tests/test_host_exceptions_real_servers.py serves through ``AsgiToWsgi``.

Every failure raises :class:`LateBoom` with a message made of the route's case
and the ``X-Token`` request header, so each request's traceback can be found,
and counted, in the server's log. The token is a header, not in the URL, so an
access log or gunicorn's "Error handling request <uri>" cannot repeat it.

* ``/route/cl``, ``/route/stream``: the Starlette route raises; Starlette's
  ServerErrorMiddleware sends a 500 (through the 500 handler below: a
  Content-Length one, or a StreamingResponse without Content-Length) and then
  raises again, after the complete response.
* ``/background/cl``, ``/background/stream``: a 200 (Content-Length, or a
  StreamingResponse) whose BackgroundTask raises after the response.
* ``/early``: a raw ASGI app, with no ServerErrorMiddleware, raises before it
  sends anything.
* ``/ok``: a plain 200.

The bridge logs on the ``bridge`` logger; ``logging.basicConfig`` here sends it
to stderr, which the test's ServerProcess writes to the server's log file.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from bridge import AsgiToWsgi

logging.basicConfig(
    level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
)

PIECES = 20


class LateBoom(Exception):
    """The app's own exception: its message is what the test looks for in the log."""


def message(case: str, token: str) -> str:
    return f"late-boom-{case}-{token}"


def body(kind: str) -> bytes:
    """The whole body of a ``kind`` response; the test compares what it got with it."""
    return b"".join(pieces(kind))


def pieces(kind: str) -> list[bytes]:
    return [b"%s piece %02d\n" % (kind.encode(), i) for i in range(PIECES)]


async def stream(kind: str) -> AsyncIterator[bytes]:
    for piece in pieces(kind):
        yield piece


def token_of(request: Request) -> str:
    return request.headers.get("x-token", "no-token")


async def route_raises(request: Request) -> Response:
    length = request.path_params["length"]
    raise LateBoom(message(f"route-{length}", token_of(request)))


async def server_error(request: Request, exc: Exception) -> Response:
    """ServerErrorMiddleware's handler: it sends this, then raises ``exc`` again."""
    if request.url.path.endswith("/stream"):
        return StreamingResponse(stream("error"), status_code=500, media_type="text/plain")
    return PlainTextResponse(body("error"), status_code=500)


def background_boom(text: str) -> None:
    raise LateBoom(text)


async def background_raises(request: Request) -> Response:
    length = request.path_params["length"]
    task = BackgroundTask(background_boom, message(f"background-{length}", token_of(request)))
    if length == "stream":
        return StreamingResponse(stream("ok"), media_type="text/plain", background=task)
    return PlainTextResponse(body("ok"), background=task)


async def ok(request: Request) -> Response:
    return PlainTextResponse("ok")


starlette_app = Starlette(
    routes=[
        Route("/route/{length}", route_raises),
        Route("/background/{length}", background_raises),
        Route("/ok", ok),
    ],
    exception_handlers={500: server_error},
)


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """``/early`` raises before anything is sent; everything else is Starlette's."""
    if scope["type"] == "http" and scope["path"] == "/early":
        headers = dict(scope["headers"])
        raise LateBoom(message("early", headers.get(b"x-token", b"no-token").decode()))
    await starlette_app(scope, receive, send)


wsgi = AsgiToWsgi(app)
