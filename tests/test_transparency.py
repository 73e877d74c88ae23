"""Issue 13: a bridged app behaves like the native app under its host.

Each test names the checklist line (B4.5, B4.8, A4.6) or the point of issue 13
it checks. An ASGI app behind ``AsgiToWsgi`` must fail, log and finish its
background work as it would under an ASGI server: an exception after the
complete response comes out of the iterable's ``close()``, the WSGI call lasts
until the app returned, and every exception is either handed to the host or
logged by the bridge, exactly once. ``WsgiToAsgi`` mirrors it: an exception a
WSGI app reported with ``exc_info`` reaches the ASGI server once the replaced
response went out whole. Round trips under the real test clients (Starlette's
``TestClient``, Flask's and Werkzeug's) behave like the app alone.

Lifespan through a round trip is not tested here (it is changing elsewhere).
Every wait is bounded; nothing sleeps to wait for something else.
"""

from __future__ import annotations

import asyncio
import http.client
import logging
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest
from fastapi import Depends, FastAPI
from flask import Flask, make_response
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient
from test_asgi_to_wsgi import TIMEOUT, http_only, respond, settle
from werkzeug.debug import DebuggedApplication
from werkzeug.serving import make_server
from werkzeug.test import Client
from wsgi_driver import build_environ, call_wsgi

from bridge import AsgiToWsgi, WsgiToAsgi

pytestmark = pytest.mark.timeout(30)

MakeAdapter = Callable[..., AsgiToWsgi]
Scope = dict[str, Any]
ERROR_BODY = b"Internal Server Error"  # the bridge's and Starlette's plain 500 (21 bytes)


# -- helpers -------------------------------------------------------------------


def from_bridge(record: logging.LogRecord) -> bool:
    return record.name == "bridge" or record.name.startswith("bridge.")


def times_logged(records: Iterable[logging.LogRecord], error: BaseException) -> int:
    """How many of the bridge's log records carry ``error`` as their exc_info."""
    return sum(
        1
        for record in records
        if from_bridge(record) and record.exc_info is not None and record.exc_info[1] is error
    )


def starlette_app(events: list[Any]) -> Starlette:
    """A Starlette app; ``events`` gets what its routes raise and what its background did.

    ``/fail`` raises ValueError("x") (ServerErrorMiddleware sends its 500, then
    re-raises); ``/background`` answers, then its BackgroundTask appends after
    some work; ``/background-fails`` answers, then its BackgroundTask raises.
    """

    async def fail(request: Request) -> PlainTextResponse:
        error = ValueError("x")
        events.append(error)
        raise error

    async def work() -> None:
        await asyncio.sleep(0.05)  # the work itself, not a wait for something
        events.append("background done")

    async def failing_work() -> None:
        error = RuntimeError("background failed")
        events.append(error)
        raise error

    async def background(request: Request) -> PlainTextResponse:
        return PlainTextResponse("queued", background=BackgroundTask(work))

    async def background_fails(request: Request) -> PlainTextResponse:
        return PlainTextResponse("queued", background=BackgroundTask(failing_work))

    return Starlette(
        routes=[
            Route("/fail", fail),
            Route("/background", background),
            Route("/background-fails", background_fails),
        ]
    )


def starlette_twins(make_adapter: MakeAdapter) -> dict[str, tuple[Any, list[Any]]]:
    """The Starlette app alone, and a twin through WsgiToAsgi(AsgiToWsgi(app)); each
    with its own events list."""
    alone: list[Any] = []
    bridged: list[Any] = []
    return {
        "alone": (starlette_app(alone), alone),
        "round trip": (WsgiToAsgi(make_adapter(starlette_app(bridged))), bridged),
    }


class BridgeLog(logging.Handler):
    """Collects the bridge's records, from any thread; waits (bounded) for one."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.changed = threading.Condition()

    def emit(self, record: logging.LogRecord) -> None:
        with self.changed:
            self.records.append(record)
            self.changed.notify_all()

    def wait_for(
        self, predicate: Callable[[logging.LogRecord], bool], timeout: float
    ) -> list[logging.LogRecord]:
        with self.changed:
            self.changed.wait_for(lambda: any(map(predicate, self.records)), timeout)
            return [r for r in self.records if predicate(r)]


@pytest.fixture
def bridge_log() -> Iterator[BridgeLog]:
    handler = BridgeLog()
    logger = logging.getLogger("bridge")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


# -- 1. AsgiToWsgi: an exception after the complete response (B4.5) -------------


def test_b4_5_starlette_500_then_reraise_comes_out_of_close(
    make_adapter: MakeAdapter, caplog: pytest.LogCaptureFixture
) -> None:
    """B4.5: ServerErrorMiddleware sends its 500, then re-raises, as under uvicorn.

    The client gets Starlette's own complete 500 (not a bridge replacement, so
    no exc_info), and the host gets the route's exception from close(), once.
    """
    caplog.set_level(logging.DEBUG, logger="bridge")
    events: list[Any] = []
    result = call_wsgi(make_adapter(starlette_app(events)), path="/fail", catch=True)
    assert result.status == "500 Internal Server Error"
    assert result.body == ERROR_BODY
    assert result.header("content-length") == str(len(ERROR_BODY))
    assert not result.exc_info_passed  # Starlette's response, sent whole
    assert result.error is None  # the iteration ended normally
    (raised,) = events
    assert type(result.close_error) is ValueError and str(result.close_error) == "x"
    assert result.close_error is raised
    assert times_logged(caplog.records, raised) == 0  # the host has it: it logs it


def test_b4_5_failing_background_task_comes_out_of_close(
    make_adapter: MakeAdapter, caplog: pytest.LogCaptureFixture
) -> None:
    """B4.5: a BackgroundTask raising after the 200: the body is whole, close() raises."""
    caplog.set_level(logging.DEBUG, logger="bridge")
    events: list[Any] = []
    result = call_wsgi(make_adapter(starlette_app(events)), path="/background-fails", catch=True)
    assert result.status == "200 OK"
    assert result.body == b"queued"
    assert result.header("content-length") == "6"
    assert result.error is None and not result.exc_info_passed
    (raised,) = events
    assert result.close_error is raised
    assert type(raised) is RuntimeError and str(raised) == "background failed"
    assert times_logged(caplog.records, raised) == 0


def test_b4_8_fastapi_yield_dependency_teardown_ran_when_the_call_returned(
    make_adapter: MakeAdapter,
) -> None:
    """B4.8: FastAPI runs a ``yield`` dependency's teardown after the response; the
    WSGI call (through close()) ends only after it, as a request under uvicorn does."""
    order: list[str] = []

    async def session() -> Any:
        yield "s"
        await asyncio.sleep(0.05)  # the teardown's own work (closing a session)
        order.append("teardown")

    app = FastAPI()

    @app.get("/")
    async def read(s: str = Depends(session)) -> dict[str, str]:
        return {"s": s}

    result = call_wsgi(make_adapter(app), on_chunk=lambda index, chunk: order.append("chunk"))
    order.append("call ended")
    assert result.status == "200 OK" and result.body == b'{"s":"s"}'
    # The body reached the host before the teardown finished: the wait is close()'s.
    assert order == ["chunk", "teardown", "call ended"]


# -- 2. AsgiToWsgi(raise_exceptions=True) (B4.5 opt-in) ---------------------------


async def _fails_before_responding(scope: Scope, receive: Any, send: Any) -> None:
    raise LookupError("no such row")


def test_b4_5_raise_exceptions_raises_from_the_wsgi_call(
    make_adapter: MakeAdapter, caplog: pytest.LogCaptureFixture
) -> None:
    """B4.5 opt-in: the app's exception comes out of adapter(environ, start_response);
    start_response is never called, and the bridge leaves the logging to the host."""
    caplog.set_level(logging.DEBUG, logger="bridge")
    adapter = make_adapter(http_only(_fails_before_responding), raise_exceptions=True)
    calls: list[tuple[Any, ...]] = []
    with pytest.raises(LookupError, match="no such row") as raised:
        adapter(build_environ(), lambda *args: calls.append(args))
    assert calls == []
    assert times_logged(caplog.records, raised.value) == 0


def _serve_with_werkzeug_dev_server(app: Any) -> tuple[int, bytes]:
    """One GET / to ``app`` on Werkzeug's own (threaded) development server.

    Its start_response, like gunicorn's, does not raise an exc_info handed to it
    before the headers went out: it sends the replacement response.
    """
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=TIMEOUT)
        try:
            connection.request("GET", "/")
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()
    finally:
        server.shutdown()
        server.server_close()
        thread.join(TIMEOUT)
        assert not thread.is_alive()


def _serve_with_werkzeug_test_client(app: Any) -> tuple[int, bytes]:
    response = Client(app).get("/")
    return response.status_code, response.data


@pytest.mark.parametrize(
    "host",
    [_serve_with_werkzeug_dev_server, _serve_with_werkzeug_test_client],
    ids=["werkzeug dev server", "werkzeug test Client"],
)
@pytest.mark.parametrize("raise_exceptions", [False, True], ids=["default", "raise_exceptions"])
def test_b4_5_raise_exceptions_lets_werkzeugs_debugger_show_the_traceback(
    make_adapter: MakeAdapter,
    host: Callable[[Any], tuple[int, bytes]],
    raise_exceptions: bool,
) -> None:
    """B4.5 opt-in: why raise_exceptions exists. DebuggedApplication only sees raised
    exceptions. Under Werkzeug's dev server (whose start_response sends the exc_info
    500 without raising) the default gives the bridge's 21-byte 500, and only
    raise_exceptions=True shows the traceback page. Werkzeug's test Client re-raises
    exc_info from its start_response, so there the debugger sees it either way."""
    adapter = make_adapter(http_only(_fails_before_responding), raise_exceptions=raise_exceptions)
    status, body = host(DebuggedApplication(adapter, evalex=False))
    assert status == 500
    if raise_exceptions or host is _serve_with_werkzeug_test_client:
        assert b"Traceback" in body and b"no such row" in body and b"LookupError" in body
    else:
        assert body == ERROR_BODY and len(body) == 21


# -- 3. Logged once (issue 13 point 1, last bullet) ------------------------------


def _failing_asgi_app(when: str, seen: list[BaseException]) -> Any:
    """``before``: a raw app raising before its response (the bridge answers 500 with
    exc_info); ``after``: Starlette's 500, then its re-raise (close() raises it)."""
    if when == "after":
        return starlette_app(seen)  # served at /fail

    async def http(scope: Scope, receive: Any, send: Any) -> None:
        error = ValueError("x")
        seen.append(error)
        raise error

    return http_only(http)


def _gunicorn_like(adapter: AsgiToWsgi) -> BaseException | None:
    """A host whose start_response ignores exc_info before the headers (gunicorn's)."""
    result = call_wsgi(adapter, path="/fail", catch=True)
    assert result.status == "500 Internal Server Error" and result.body == ERROR_BODY
    assert result.error is None
    return result.close_error


def _werkzeug_client(adapter: AsgiToWsgi) -> BaseException | None:
    """Werkzeug's test Client: its start_response re-raises exc_info."""
    try:
        Client(adapter).get("/fail", buffered=True)  # buffered: close() runs in get()
    except Exception as exc:
        return exc
    return None


def _starlette_round_trip(adapter: AsgiToWsgi) -> BaseException | None:
    """WsgiToAsgi(AsgiToWsgi(app)) under Starlette's TestClient."""
    with TestClient(WsgiToAsgi(adapter)) as client:
        try:
            client.get("/fail")
        except Exception as exc:
            return exc
    return None


# Where the app's exception must end up: handed to the host (or the test), or
# logged by the bridge because nobody else will see it. Never both, never neither.
LOGGED_ONCE = [
    (_gunicorn_like, "before", "logged by the bridge"),
    (_gunicorn_like, "after", "raised to the host"),
    (_werkzeug_client, "before", "raised to the host"),
    (_werkzeug_client, "after", "raised to the host"),
    (_starlette_round_trip, "before", "raised to the host"),
    (_starlette_round_trip, "after", "raised to the host"),
]


@pytest.mark.parametrize(
    ("host", "when", "where"),
    LOGGED_ONCE,
    ids=[f"{host.__name__.lstrip('_')}-{when}" for host, when, _ in LOGGED_ONCE],
)
def test_issue_13_point_1_the_apps_exception_is_reported_exactly_once(
    make_adapter: MakeAdapter,
    caplog: pytest.LogCaptureFixture,
    host: Callable[[AsgiToWsgi], BaseException | None],
    when: str,
    where: str,
) -> None:
    """Issue 13 point 1: logged once. The bridge logs the exception only where the host
    will not see it; where the host (or its test client) gets it, once, as the very
    exception the app raised (not a copy, nor a group around it)."""
    caplog.set_level(logging.DEBUG, logger="bridge")
    seen: list[BaseException] = []
    delivered = host(make_adapter(_failing_asgi_app(when, seen)))
    (error,) = seen
    assert (delivered is error) == (where == "raised to the host")
    if delivered is not error:
        assert delivered is None
    assert times_logged(caplog.records, error) == int(where == "logged by the bridge")


# -- 4. Round trips under the real test clients (issue 13 point 6) ---------------


def test_issue_13_point_6_round_trip_raises_the_routes_exception_like_the_app(
    make_adapter: MakeAdapter,
) -> None:
    """Point 6: TestClient raises ValueError("x") for the round trip as for the app."""
    raised: dict[str, BaseException] = {}
    for name, (app, events) in starlette_twins(make_adapter).items():
        with TestClient(app) as client, pytest.raises(Exception) as excinfo:
            client.get("/fail")
        raised[name] = excinfo.value
        assert events == [excinfo.value]  # the route's own exception object
    assert type(raised["round trip"]) is type(raised["alone"]) is ValueError
    assert str(raised["round trip"]) == str(raised["alone"]) == "x"


def test_issue_13_point_6_round_trip_without_raise_server_exceptions_is_the_same_500(
    make_adapter: MakeAdapter,
) -> None:
    """Point 6: raise_server_exceptions=False gives Starlette's 500 in both."""
    got: dict[str, tuple[int, bytes]] = {}
    for name, (app, events) in starlette_twins(make_adapter).items():
        with TestClient(app, raise_server_exceptions=False) as client:
            response = client.get("/fail")
        got[name] = (response.status_code, response.content)
        assert len(events) == 1  # the route ran, and raised
    assert got["round trip"] == got["alone"] == (500, ERROR_BODY)


def test_issue_13_point_6_background_task_finished_when_get_returns(
    make_adapter: MakeAdapter,
) -> None:
    """Point 6, B4.8: a BackgroundTask has run when client.get() returns, in both."""
    for name, (app, events) in starlette_twins(make_adapter).items():
        with TestClient(app) as client:
            response = client.get("/background")
            assert events == ["background done"], name
        assert response.status_code == 200 and response.content == b"queued"


def test_issue_13_point_6_failing_background_task_raises_from_get(
    make_adapter: MakeAdapter,
) -> None:
    """Point 6, B4.5: a failing BackgroundTask raises from client.get() in both."""
    for name, (app, events) in starlette_twins(make_adapter).items():
        with TestClient(app) as client, pytest.raises(Exception) as excinfo:
            client.get("/background-fails")
        assert events == [excinfo.value], name
        assert type(excinfo.value) is RuntimeError
        assert str(excinfo.value) == "background failed"


def flask_twins(make_adapter: MakeAdapter) -> dict[str, Flask]:
    """A Flask app alone, and a twin whose wsgi_app is AsgiToWsgi(WsgiToAsgi(wsgi_app))."""
    apps: dict[str, Flask] = {}
    for name in ("alone", "round trip"):
        app = Flask(f"transparency_{name.replace(' ', '_')}")
        app.testing = True

        @app.get("/fail")
        def fail() -> str:
            raise KeyError("k")

        @app.get("/hello")
        def hello() -> Any:
            response = make_response("hello", 201)
            response.headers["X-Twin"] = "same"
            response.set_cookie("flavour", "plain")
            return response

        if name == "round trip":
            app.wsgi_app = make_adapter(WsgiToAsgi(app.wsgi_app))  # type: ignore[method-assign]
        apps[name] = app
    return apps


def test_issue_13_point_6_flask_round_trip_raises_the_views_exception(
    make_adapter: MakeAdapter,
) -> None:
    """Point 6: with app.testing, a view's KeyError raises from test_client().get(),
    through both bridges as without them."""
    raised: dict[str, BaseException] = {}
    for name, app in flask_twins(make_adapter).items():
        with pytest.raises(Exception) as excinfo:
            app.test_client().get("/fail")
        raised[name] = excinfo.value
    assert type(raised["round trip"]) is type(raised["alone"]) is KeyError
    assert str(raised["round trip"]) == str(raised["alone"]) == "'k'"


def test_issue_13_point_6_flask_round_trip_answers_like_the_app(
    make_adapter: MakeAdapter,
) -> None:
    """Point 6: same status, body and headers (names compared case-insensitively;
    Content-Length and Date aside). The status code, not the reason phrase: ASGI
    carries none (docs/compatibility.md N3: "201 CREATED" comes back "201 Created")."""
    got: dict[str, tuple[int, bytes, list[tuple[str, str]]]] = {}
    for name, app in flask_twins(make_adapter).items():
        response = app.test_client().get("/hello")
        headers = sorted(
            (key.lower(), value)
            for key, value in response.headers.items()
            if key.lower() not in {"content-length", "date"}
        )
        got[name] = (response.status_code, response.data, headers)
    assert got["round trip"] == got["alone"]
    status, body, headers = got["alone"]
    assert (status, body) == (201, b"hello")
    assert ("x-twin", "same") in headers


# -- 5. WsgiToAsgi: exc_info before the headers (B4.5 mirror, A4.6) --------------


def _replacing_app(shape: str) -> Callable[..., Iterable[bytes]]:
    """A WSGI app that reports LookupError with exc_info before any body, replacing
    its response with its own error page (a list, or a streamed generator)."""

    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        try:
            raise LookupError("db down")
        except LookupError:
            start_response(
                "500 Internal Server Error", [("Content-Type", "text/plain")], sys.exc_info()
            )
        if shape == "list":
            return [b"our own ", b"error page"]
        return iter([b"our own ", b"error page"])

    return app


@pytest.mark.parametrize("shape", ["list", "stream"])
def test_a4_6_exc_info_before_headers_is_raised_after_the_replacement(shape: str) -> None:
    """A4.6 / B4.5 mirror: TestClient raises the reported exception; without
    raise_server_exceptions the client gets the app's own replacement page, whole."""
    with (
        TestClient(WsgiToAsgi(_replacing_app(shape))) as client,
        pytest.raises(LookupError, match="db down"),
    ):
        client.get("/")
    with TestClient(WsgiToAsgi(_replacing_app(shape)), raise_server_exceptions=False) as client:
        response = client.get("/")
    assert response.status_code == 500
    assert response.content == b"our own error page"


# -- Edge: wait_time expired, then the app raises (B4.8) -------------------------


def test_b4_8_exception_after_wait_time_expired_is_logged_once(
    make_adapter: MakeAdapter, bridge_log: BridgeLog
) -> None:
    """B4.8: with wait_time, close() gives up and returns without raising; the app's
    cleanup, failing only after that (released by the test once close() returned),
    is logged by the bridge, once, since no host will ever see it."""
    loops: list[asyncio.AbstractEventLoop] = []
    releases: list[asyncio.Event] = []
    raised: list[BaseException] = []

    async def http(scope: Scope, receive: Any, send: Any) -> None:
        release = asyncio.Event()
        loops.append(asyncio.get_running_loop())
        releases.append(release)
        await respond(send, b"done")
        try:
            await asyncio.Event().wait()  # background work that outlives wait_time
        finally:
            # Its cleanup, run when the bridge cancels it, fails, but only once
            # the test released it.
            await release.wait()
            error = RuntimeError("cleanup failed")
            raised.append(error)
            raise error

    result = call_wsgi(make_adapter(http_only(http), wait_time=0.05), catch=True)
    try:
        assert result.status == "200 OK" and result.body == b"done"
        assert result.error is None and result.close_error is None  # close() gave up quietly
        assert raised == []  # nothing failed yet
    finally:
        loops[0].call_soon_threadsafe(releases[0].set)
    bridge_log.wait_for(lambda record: record.exc_info is not None, TIMEOUT)
    settle(loops[0])  # anything else the loop would log about it, it has by now
    (error,) = raised
    assert times_logged(bridge_log.records, error) == 1
    (record,) = [r for r in bridge_log.records if r.exc_info is not None]
    assert record.levelno == logging.ERROR
    assert "raised after its response" in record.getMessage()
