"""Issue 13 point 3: lifespan through a round trip, and eager startup.

``WsgiToAsgi(AsgiToWsgi(app))`` is lifespan-identical to ``app``: the ASGI
server's lifespan reaches the inner app's own (startup before the first
request, state in requests, shutdown at exit, a failing startup fails the
server's). ``AsgiToWsgi.startup()`` / ``shutdown()`` are the public hooks for
WSGI servers' per-worker callbacks.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import warnings
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from flask import Flask
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from werkzeug.middleware.proxy_fix import ProxyFix
from wsgi_driver import call_wsgi

from bridge import AsgiToWsgi, WsgiToAsgi
from bridge._wsgi_to_asgi import wrapped_asgi_to_wsgi

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette's notice about httpx
    from starlette.testclient import TestClient

pytestmark = pytest.mark.timeout(30)


def starlette_app(events: list[str], *, fail: bool = False) -> Starlette:
    """A Starlette app whose lifespan records its phases and yields state."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        events.append("startup")
        if fail:
            raise RuntimeError("the database is down")
        yield {"db": ["connected"]}
        events.append("shutdown")

    async def home(request: Request) -> PlainTextResponse:
        events.append("request")
        return PlainTextResponse(request.state.db[0])

    return Starlette(routes=[Route("/", home)], lifespan=lifespan)


WRAPPINGS: dict[str, Callable[[Starlette], Any]] = {
    "unwrapped": lambda app: app,
    "WsgiToAsgi(AsgiToWsgi(app))": lambda app: WsgiToAsgi(AsgiToWsgi(app)),
    "through WSGI middleware": lambda app: WsgiToAsgi(ProxyFix(AsgiToWsgi(app))),
}


@pytest.mark.parametrize("wrapping", sorted(WRAPPINGS))
def test_a_round_trip_is_lifespan_identical_to_the_app(wrapping: str) -> None:
    """Startup before the first request, state in requests, shutdown at exit, again."""
    events: list[str] = []
    served = WRAPPINGS[wrapping](starlette_app(events))
    for _ in range(2):  # a second TestClient block starts the app again, natively too
        with TestClient(served) as client:
            assert events[-1] == "startup"  # before any request
            response = client.get("/")
            assert response.status_code == 200 and response.text == "connected"
        assert events[-1] == "shutdown"
    assert events == ["startup", "request", "shutdown"] * 2


@pytest.mark.parametrize("wrapping", sorted(WRAPPINGS))
def test_a_failing_startup_fails_the_servers_startup(wrapping: str) -> None:
    """The inner app's startup failure reaches the ASGI server (TestClient raises)."""
    events: list[str] = []
    served = WRAPPINGS[wrapping](starlette_app(events, fail=True))
    with pytest.raises(RuntimeError, match="the database is down"), TestClient(served):
        pass
    assert events == ["startup"]  # and no request ever reached the app


def test_the_wrapped_adapter_is_found_through_common_middleware() -> None:
    async def asgi_app(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError("not called")

    adapter = AsgiToWsgi(asgi_app)
    flask_app = Flask(__name__)
    assert wrapped_asgi_to_wsgi(flask_app) is None  # Flask's own wsgi_app is a method
    flask_app.wsgi_app = adapter  # type: ignore[method-assign]
    assert wrapped_asgi_to_wsgi(flask_app) is adapter
    assert wrapped_asgi_to_wsgi(adapter) is adapter
    assert wrapped_asgi_to_wsgi(ProxyFix(ProxyFix(adapter))) is adapter

    class WhiteNoiseLike:
        def __init__(self, application: Any) -> None:
            self.application = application

    assert wrapped_asgi_to_wsgi(WhiteNoiseLike(ProxyFix(adapter))) is adapter

    class Cycle:
        app: Any = None

    first, second = Cycle(), Cycle()
    first.app, second.app = second, first
    assert wrapped_asgi_to_wsgi(first) is None  # no endless walk

    deep: Any = adapter
    for _ in range(16):
        deep = ProxyFix(deep)
    assert wrapped_asgi_to_wsgi(deep) is adapter  # through 16 layers of middleware
    assert wrapped_asgi_to_wsgi(ProxyFix(deep)) is None  # and no further: bounded
    assert wrapped_asgi_to_wsgi(lambda environ, start_response: []) is None
    adapter.close()


def test_startup_runs_lifespan_before_any_request_and_shutdown_leaves_it_usable() -> None:
    events: list[str] = []
    adapter = AsgiToWsgi(starlette_app(events))
    try:
        adapter.startup()
        assert events == ["startup"]  # at the call, not at the first request
        adapter.startup()  # already started in this process: nothing more
        assert events == ["startup"]
        assert call_wsgi(adapter).body == b"connected"
        adapter.shutdown()
        assert events == ["startup", "request", "shutdown"]
        # Still usable: the next request starts a fresh lifespan, as a restarted server.
        assert call_wsgi(adapter).body == b"connected"
        assert events == ["startup", "request", "shutdown", "startup", "request"]
    finally:
        adapter.close()
    assert events[-1] == "shutdown"
    with pytest.raises(RuntimeError, match="closed"):
        adapter.startup()


def test_startup_raises_when_the_apps_startup_fails() -> None:
    """A worker hook calling startup() fails the worker at boot, with the app's message."""
    events: list[str] = []
    adapter = AsgiToWsgi(starlette_app(events, fail=True))
    try:
        # The app's own exception, as its server would show it (Starlette re-raises
        # it after lifespan.startup.failed).
        with pytest.raises(RuntimeError, match=r"^the database is down$"):
            adapter.startup()
    finally:
        adapter.close()


def test_shutdown_is_at_once_when_the_apps_lifespan_already_returned() -> None:
    """An app that answers startup and then returns its lifespan call will never answer
    lifespan.shutdown; an ASGI server counts it as done, and so does shutdown(), at once
    rather than after shutdown_timeout (found in review: uvicorn took 30 s to stop
    serving WsgiToAsgi(AsgiToWsgi(app)))."""
    served: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await receive()
            await send({"type": "lifespan.startup.complete"})
            return  # and never listens again
        served.append(scope["path"])
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    adapter = AsgiToWsgi(app, shutdown_timeout=60)
    adapter.startup()
    assert call_wsgi(adapter).status == "204 No Content" and served == ["/"]
    finished = threading.Event()
    stopper = threading.Thread(target=lambda: (adapter.close(), finished.set()), daemon=True)
    stopper.start()
    assert finished.wait(10)  # far below shutdown_timeout


def test_a_lazy_startup_failure_logs_the_apps_traceback(caplog: pytest.LogCaptureFixture) -> None:
    """Started by the first request (no startup() hook), a lifespan that raises with
    lifespan.startup.failed has its traceback in the log: nobody else will show it.
    Started by startup(), it is raised to the caller instead, and not logged twice."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        assert scope["type"] == "lifespan"
        await receive()
        await send({"type": "lifespan.startup.failed", "message": "short"})
        raise ValueError("the real reason")

    lazy = AsgiToWsgi(app)
    try:
        with caplog.at_level(logging.ERROR, logger="bridge"):
            assert call_wsgi(lazy).status == "500 Internal Server Error"
        traced = [r for r in caplog.records if r.exc_info and r.exc_info[0] is ValueError]
        assert len(traced) == 1 and "the real reason" in str(traced[0].exc_info[1])
    finally:
        lazy.close()
    caplog.clear()
    eager = AsgiToWsgi(app)
    try:
        with (
            caplog.at_level(logging.ERROR, logger="bridge"),
            pytest.raises(ValueError, match="the real reason"),
        ):
            eager.startup()
        assert not [r for r in caplog.records if r.exc_info and r.exc_info[0] is ValueError]
    finally:
        eager.close()
