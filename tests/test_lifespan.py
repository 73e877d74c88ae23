"""AsgiToWsgi and the ASGI lifespan protocol (checklist B6).

Each test builds an app that records what it was sent and answers lifespan the
way the test asks. Requests go through ``tests/wsgi_driver.call_wsgi``; every
adapter is closed (fixture) and every wait is bounded.
"""

from __future__ import annotations

import asyncio
import copy
import gc
import logging
import threading
from collections.abc import Callable
from typing import Any

import pytest
from conftest import LOOP_THREAD, loop_threads
from wsgi_driver import Result, call_wsgi

import bridge._lifespan
from bridge import AsgiToWsgi

pytestmark = pytest.mark.timeout(30)

TIMEOUT = 10.0
CT = [(b"content-type", b"text/plain")]
Scope = dict[str, Any]


class App:
    """Records lifespan traffic; ``startup``/``shutdown`` choose how it answers.

    startup: "complete" | "failed" | "raise" | "return" (return without answering)
    shutdown: "complete" | "failed"
    """

    def __init__(self, startup: str = "complete", shutdown: str = "complete") -> None:
        self.startup = startup
        self.shutdown = shutdown
        self.lifespan_scopes: list[Scope] = []
        self.received: list[str] = []
        self.http_scopes: list[Scope] = []
        self.loops: list[asyncio.AbstractEventLoop] = []
        self.events: list[str] = []  # startup/http/shutdown, in order

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        self.loops.append(asyncio.get_running_loop())
        if scope["type"] == "lifespan":
            await self.lifespan(scope, receive, send)
            return
        assert scope["type"] == "http"
        self.http_scopes.append(scope)
        self.events.append("http")
        state = scope.get("state")
        body = b"no state" if state is None else b"ready=%r" % state.get("ready")
        await send({"type": "http.response.start", "status": 200, "headers": CT})
        await send({"type": "http.response.body", "body": body})

    async def lifespan(self, scope: Scope, receive: Any, send: Any) -> None:
        self.lifespan_scopes.append(scope)
        if self.startup == "raise":
            raise RuntimeError("this app does not do lifespan")
        message = await receive()
        self.received.append(message["type"])
        if self.startup == "return":
            return
        if self.startup == "failed":
            await send({"type": "lifespan.startup.failed", "message": "database unreachable"})
            return
        scope["state"]["ready"] = True
        self.events.append("startup")
        await send({"type": "lifespan.startup.complete"})
        message = await receive()
        self.received.append(message["type"])
        self.events.append("shutdown")
        if self.shutdown == "failed":
            await send({"type": "lifespan.shutdown.failed", "message": "could not flush"})
        else:
            await send({"type": "lifespan.shutdown.complete"})


def ok(result: Result) -> bool:
    return result.status == "200 OK"


def warnings_from_bridge(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """Every record of the ``bridge`` logger at WARNING or above."""
    return [r for r in caplog.records if r.name == "bridge" and r.levelno >= logging.WARNING]


# -- startup ---------------------------------------------------------------------------


def test_startup_runs_once_before_the_first_request(
    make_adapter: Callable[..., AsgiToWsgi],
) -> None:
    app = App()
    adapter = make_adapter(app)
    assert app.lifespan_scopes == []  # nothing runs in __init__
    results = [call_wsgi(adapter) for _ in range(3)]
    assert all(ok(r) and r.body == b"ready=True" for r in results)
    assert app.received == ["lifespan.startup"]
    assert app.events == ["startup", "http", "http", "http"]
    (scope,) = app.lifespan_scopes
    assert scope["type"] == "lifespan"
    assert scope["asgi"]["version"] == "3.0"
    assert scope["asgi"]["spec_version"] == "2.0"
    assert isinstance(scope["state"], dict)
    # Lifespan and requests run on the same (the bridge's) loop.
    assert len({id(loop) for loop in app.loops}) == 1


def test_lifespan_scope_is_exact_and_runs_once_on_the_bridges_loop_thread(
    make_adapter: Callable[..., AsgiToWsgi],
) -> None:
    """B6.1: the scope as it arrives, one lifespan for many requests, on the bridge's loop."""
    scopes: list[Scope] = []
    lifespan_threads: list[threading.Thread] = []
    loops: dict[str, set[int]] = {"lifespan": set(), "http": set()}

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            scopes.append(copy.deepcopy(scope))  # before anything can change it
            lifespan_threads.append(threading.current_thread())
            loops["lifespan"].add(id(asyncio.get_running_loop()))
            await receive()
            await send({"type": "lifespan.startup.complete"})
            await receive()
            await send({"type": "lifespan.shutdown.complete"})
            return
        loops["http"].add(id(asyncio.get_running_loop()))
        await send({"type": "http.response.start", "status": 200, "headers": CT})
        await send({"type": "http.response.body", "body": b"ok"})

    adapter = make_adapter(app)
    results: list[Result] = []
    threads = [
        threading.Thread(target=lambda: results.append(call_wsgi(adapter))) for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT)
    results.append(call_wsgi(adapter))
    assert len(results) == 5 and all(ok(r) for r in results)
    assert scopes == [
        {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": {}}
    ]
    assert [t.name for t in lifespan_threads] == [LOOP_THREAD]
    assert len(loops["lifespan"]) == 1 and loops["http"] == loops["lifespan"]


def test_concurrent_first_requests_all_wait_for_startup(
    make_adapter: Callable[..., AsgiToWsgi],
) -> None:
    started = threading.Event()
    gate = asyncio.Event()
    loops: list[asyncio.AbstractEventLoop] = []
    complete = False
    saw_complete: list[bool] = []

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        nonlocal complete
        if scope["type"] == "lifespan":
            await receive()
            loops.append(asyncio.get_running_loop())
            started.set()
            await asyncio.wait_for(gate.wait(), TIMEOUT)
            scope["state"]["ready"] = True
            complete = True
            await send({"type": "lifespan.startup.complete"})
            await receive()
            await send({"type": "lifespan.shutdown.complete"})
            return
        saw_complete.append(complete and scope["state"].get("ready") is True)
        await send({"type": "http.response.start", "status": 200, "headers": CT})
        await send({"type": "http.response.body", "body": b"ok"})

    adapter = make_adapter(app)
    results: list[Result] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            results.append(call_wsgi(adapter))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for thread in threads:
        thread.start()
    assert started.wait(TIMEOUT)
    assert results == []  # startup is parked: nobody got a response yet
    loops[0].call_soon_threadsafe(gate.set)
    for thread in threads:
        thread.join(TIMEOUT)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []
    assert len(results) == 6 and all(ok(r) for r in results)
    assert saw_complete == [True] * 6


def test_startup_failed_gives_500_with_the_message_and_logs_it(
    make_adapter: Callable[..., AsgiToWsgi], caplog: pytest.LogCaptureFixture
) -> None:
    """B6.3: the message is logged, every request is a 500, the app never sees http."""
    caplog.set_level(logging.ERROR, logger="bridge")
    app = App(startup="failed")
    adapter = make_adapter(app)
    for _ in range(3):
        result = call_wsgi(adapter)
        assert result.status is not None and result.status.startswith("500 ")
        assert b"database unreachable" in result.body
    assert app.http_scopes == []
    assert app.received == ["lifespan.startup"]  # startup ran once, not per request
    logged = [r for r in caplog.records if r.name == "bridge" and r.levelno >= logging.ERROR]
    assert any("database unreachable" in r.getMessage() for r in logged)


@pytest.mark.parametrize(("how", "reason"), [("raise", "raised"), ("return", "returned")])
def test_app_without_lifespan_is_served_without_state_and_never_shut_down(
    make_adapter: Callable[..., AsgiToWsgi], caplog: pytest.LogCaptureFixture, how: str, reason: str
) -> None:
    """B6.4 (revised): raising on the lifespan scope, or returning without answering,
    is "unsupported" with exactly one warning (it used to be a debug record only)."""
    caplog.set_level(logging.DEBUG, logger="bridge")
    app = App(startup=how)
    adapter = make_adapter(app)
    first = call_wsgi(adapter)
    second = call_wsgi(adapter)
    assert ok(first) and ok(second)
    assert first.body == second.body == b"no state"
    assert all("state" not in scope for scope in app.http_scopes)
    adapter.close()
    assert len(app.lifespan_scopes) == 1
    assert "lifespan.shutdown" not in app.received
    (warning,) = warnings_from_bridge(caplog)
    assert warning.levelno == logging.WARNING
    assert reason in warning.getMessage() and "without lifespan" in warning.getMessage()


def test_lifespan_off_never_sends_a_lifespan_scope(
    make_adapter: Callable[..., AsgiToWsgi],
) -> None:
    app = App()
    adapter = make_adapter(app, lifespan="off")
    result = call_wsgi(adapter)
    assert ok(result)
    assert result.body == b"no state"
    adapter.close()
    assert app.lifespan_scopes == []
    assert app.received == []


@pytest.mark.parametrize(("how", "reason"), [("raise", b"raised"), ("return", b"returned")])
def test_lifespan_on_with_an_app_that_does_not_support_it_gives_500(
    make_adapter: Callable[..., AsgiToWsgi], how: str, reason: bytes
) -> None:
    app = App(startup=how)
    adapter = make_adapter(app, lifespan="on")
    for _ in range(2):
        result = call_wsgi(adapter)
        assert result.status is not None and result.status.startswith("500 ")
        assert b"lifespan='on'" in result.body and reason in result.body
    assert app.http_scopes == []


def test_lifespan_option_is_validated() -> None:
    with pytest.raises(ValueError):
        AsgiToWsgi(App(), lifespan="sometimes")


def test_startup_that_never_answers_times_out_into_500(
    make_adapter: Callable[..., AsgiToWsgi], caplog: pytest.LogCaptureFixture
) -> None:
    """B6.2: the first request waits for startup only within a timeout."""
    caplog.set_level(logging.ERROR, logger="bridge")
    release = asyncio.Event()
    loops: list[asyncio.AbstractEventLoop] = []
    http_calls: list[Scope] = []

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await receive()
            loops.append(asyncio.get_running_loop())
            await asyncio.wait_for(release.wait(), TIMEOUT)
            return
        http_calls.append(scope)

    adapter = make_adapter(app, startup_timeout=0.2)
    result = call_wsgi(adapter)
    loops[0].call_soon_threadsafe(release.set)
    assert result.status is not None and result.status.startswith("500 ")
    assert http_calls == []
    assert any(r.name == "bridge" and "startup" in r.getMessage() for r in caplog.records)


# -- shutdown -----------------------------------------------------------------------------


def test_close_sends_shutdown_exactly_once(make_adapter: Callable[..., AsgiToWsgi]) -> None:
    """B6.5: close() sends lifespan.shutdown once; a second close() does nothing."""
    app = App()
    adapter = make_adapter(app)
    assert ok(call_wsgi(adapter))
    adapter.close()
    assert app.received == ["lifespan.startup", "lifespan.shutdown"]
    assert app.events[-1] == "shutdown"
    adapter.close()
    assert app.received == ["lifespan.startup", "lifespan.shutdown"]


def test_context_manager_exit_shuts_down_once(make_adapter: Callable[..., AsgiToWsgi]) -> None:
    """B6.5: leaving the with block shuts down once and ends the loop thread."""
    app = App()
    before = loop_threads()
    with make_adapter(app) as adapter:
        assert isinstance(adapter, AsgiToWsgi)
        assert ok(call_wsgi(adapter))
        assert app.received == ["lifespan.startup"]
    assert app.received == ["lifespan.startup", "lifespan.shutdown"]
    assert loop_threads() - before == set()
    adapter.close()
    assert app.received == ["lifespan.startup", "lifespan.shutdown"]


def test_close_without_any_request_runs_no_lifespan(
    make_adapter: Callable[..., AsgiToWsgi],
) -> None:
    app = App()
    adapter = make_adapter(app)
    adapter.close()
    assert app.lifespan_scopes == []
    assert app.received == []


def test_shutdown_failed_is_logged(
    make_adapter: Callable[..., AsgiToWsgi], caplog: pytest.LogCaptureFixture
) -> None:
    """B6.5: lifespan.shutdown.failed is logged with its message."""
    caplog.set_level(logging.ERROR, logger="bridge")
    app = App(shutdown="failed")
    adapter = make_adapter(app)
    assert ok(call_wsgi(adapter))
    adapter.close()
    assert app.received == ["lifespan.startup", "lifespan.shutdown"]
    assert any(r.name == "bridge" and "could not flush" in r.getMessage() for r in caplog.records)


def test_shutdown_that_never_answers_is_bounded(
    make_adapter: Callable[..., AsgiToWsgi], caplog: pytest.LogCaptureFixture
) -> None:
    """B6.5: the wait for an answer to lifespan.shutdown is bounded by shutdown_timeout."""
    caplog.set_level(logging.ERROR, logger="bridge")

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await receive()
            await send({"type": "lifespan.startup.complete"})
            await receive()
            await asyncio.Event().wait()  # never answers the shutdown
            return
        await send({"type": "http.response.start", "status": 200, "headers": CT})
        await send({"type": "http.response.body", "body": b"ok"})

    adapter = make_adapter(app, shutdown_timeout=0.2)
    assert ok(call_wsgi(adapter))
    adapter.close()  # returns (bounded by shutdown_timeout); the fixture checks the thread
    assert any(r.name == "bridge" and "shutdown" in r.getMessage() for r in caplog.records)
    # Whatever close() left behind must be safe to collect: nothing may touch the
    # closed loop (an "Exception ignored ... Event loop is closed" fails this test).
    gc.collect()


def test_close_waits_for_shutdown_complete_then_joins_its_loop_thread(
    make_adapter: Callable[..., AsgiToWsgi],
) -> None:
    """B6.5: close() returns only after the app's shutdown work and shutdown.complete;
    then the bridge's own loop is stopped, its thread joined and the loop closed."""
    events: list[str] = []
    threads: list[threading.Thread] = []
    loops: list[asyncio.AbstractEventLoop] = []

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            threads.append(threading.current_thread())
            loops.append(asyncio.get_running_loop())
            await receive()
            await send({"type": "lifespan.startup.complete"})
            events.append((await receive())["type"])
            try:
                for _ in range(100):  # shutdown work that spans many loop iterations
                    await asyncio.sleep(0)
            except asyncio.CancelledError:
                events.append("cancelled")
                raise
            events.append("flushed")
            await send({"type": "lifespan.shutdown.complete"})
            events.append("complete sent")
            return
        await send({"type": "http.response.start", "status": 200, "headers": CT})
        await send({"type": "http.response.body", "body": b"ok"})

    adapter = make_adapter(app)
    assert ok(call_wsgi(adapter))
    assert threads[0].name == LOOP_THREAD and threads[0].is_alive()
    adapter.close()
    assert events == ["lifespan.shutdown", "flushed", "complete sent"]
    assert not threads[0].is_alive()
    assert loops[0].is_closed()
    adapter.close()
    assert events == ["lifespan.shutdown", "flushed", "complete sent"]


def test_a_loop_passed_in_gets_shutdown_once_and_is_never_stopped_or_closed(
    make_adapter: Callable[..., AsgiToWsgi],
) -> None:
    """B6.5 with loop=: shutdown is sent once, and the loop keeps running, unclosed."""
    loop = asyncio.new_event_loop()
    runner = threading.Thread(target=loop.run_forever, name="test-owned-loop", daemon=True)
    runner.start()
    try:
        asyncio.run_coroutine_threadsafe(asyncio.sleep(0), loop).result(TIMEOUT)  # it runs
        app = App()
        adapter = make_adapter(app, loop=loop)
        assert ok(call_wsgi(adapter))
        adapter.close()
        adapter.close()
        assert app.received == ["lifespan.startup", "lifespan.shutdown"]
        assert all(used is loop for used in app.loops)
        assert loop.is_running() and not loop.is_closed() and runner.is_alive()
        assert (
            asyncio.run_coroutine_threadsafe(asyncio.sleep(0, "alive"), loop).result(TIMEOUT)
            == "alive"
        )
    finally:
        loop.call_soon_threadsafe(loop.stop)
        runner.join(TIMEOUT)
        assert not runner.is_alive()
        loop.close()


# -- B6.7: messages out of phase -------------------------------------------------------------


def test_lifespan_messages_that_do_not_fit_the_phase_after_startup_raise(
    make_adapter: Callable[..., AsgiToWsgi], caplog: pytest.LogCaptureFixture
) -> None:
    """B6.7: once startup is answered, a message of the wrong phase raises from send and
    changes nothing else. (Messages of the wrong kind sent *during* startup used to be
    here too, raising without consequence; since checklist B6.4 was revised they make
    lifespan unsupported: test_b6_4_a_wrong_message_during_startup_means_unsupported.)"""
    caplog.set_level(logging.WARNING, logger="bridge")
    raised: dict[str, type[BaseException]] = {}

    async def attempt(label: str, send: Any, message: Any) -> None:
        try:
            await send(message)
        except Exception as exc:
            raised[label] = type(exc)

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await receive()
            scope["state"]["ready"] = True
            await send({"type": "lifespan.startup.complete"})
            await attempt("unknown type", send, {"type": "lifespan.bogus"})
            await attempt("http message", send, {"type": "http.response.start", "status": 200})
            await attempt("not a dict", send, "lifespan.startup.complete")
            await attempt("startup.complete twice", send, {"type": "lifespan.startup.complete"})
            await attempt(
                "startup.failed after start",
                send,
                {"type": "lifespan.startup.failed", "message": "x"},
            )
            await receive()
            await attempt(
                "startup.complete during shutdown", send, {"type": "lifespan.startup.complete"}
            )
            await send({"type": "lifespan.shutdown.complete"})
            await attempt("shutdown.complete twice", send, {"type": "lifespan.shutdown.complete"})
            return
        await send({"type": "http.response.start", "status": 200, "headers": CT})
        await send({"type": "http.response.body", "body": b"ready=%r" % scope["state"]["ready"]})

    adapter = make_adapter(app)
    result = call_wsgi(adapter)
    assert ok(result) and result.body == b"ready=True"  # the misfires did not derail startup
    assert ok(call_wsgi(adapter))
    adapter.close()
    assert warnings_from_bridge(caplog) == []
    assert sorted(raised) == sorted(
        [
            "unknown type",
            "http message",
            "not a dict",
            "startup.complete twice",
            "startup.failed after start",
            "startup.complete during shutdown",
            "shutdown.complete twice",
        ]
    )


# -- B6.4 (revised): an app that does not really speak lifespan is never waited for ----------
#
# Each of these apps would have held every request for startup_timeout (then 500) before
# checklist B6.4 was revised. startup_timeout is set far above the test's own timeout, so
# a held request fails the test by timing out: no wall-clock assertion is needed.

HELD = 30.0  # startup_timeout: a request held for it outlives pytest.mark.timeout(10)


class IgnoresScopeType:
    """A small raw ASGI app that answers every scope as if it were HTTP.

    On the lifespan scope its ``http.response.start`` is a protocol violation:
    ``send`` raises, the app swallows that (``send_errors``) and then, as it would
    for a request, waits on ``receive()`` for an ``http.disconnect`` that never comes.
    ``swallow_cancels`` makes it also ignore that many cancellations of that wait.
    """

    def __init__(self, swallow_cancels: int = 0) -> None:
        self.swallow_cancels = swallow_cancels
        self.cancels = 0
        self.received: dict[str, list[str]] = {"lifespan": [], "http": []}
        self.send_errors: list[BaseException] = []
        self.http_scopes: list[Scope] = []
        self.lifespan_ended = threading.Event()
        self.swallowed_all = threading.Event()

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.http_scopes.append(scope)
        try:
            await send({"type": "http.response.start", "status": 200, "headers": CT})
            await send({"type": "http.response.body", "body": b"hello"})
        except RuntimeError as exc:
            self.send_errors.append(exc)
        try:
            while True:
                try:
                    message = await receive()
                except asyncio.CancelledError:
                    self.cancels += 1
                    if self.cancels > self.swallow_cancels:
                        raise
                    if self.cancels == self.swallow_cancels:
                        self.swallowed_all.set()
                    continue
                self.received[scope["type"]].append(message["type"])
                if message["type"] == "http.disconnect":
                    return
        finally:
            if scope["type"] == "lifespan":
                self.lifespan_ended.set()


@pytest.mark.timeout(10)
def test_b6_4_app_sending_http_on_the_lifespan_scope_is_served_at_once_without_state(
    make_adapter: Callable[..., AsgiToWsgi], caplog: pytest.LogCaptureFixture
) -> None:
    """B6.4: http.response.start on the lifespan scope, the error swallowed, then a wait
    on receive() for ever: unsupported at once, one warning, no state, the lifespan task
    cancelled, and close() never sends lifespan.shutdown."""
    caplog.set_level(logging.DEBUG, logger="bridge")
    app = IgnoresScopeType()
    adapter = make_adapter(app, startup_timeout=HELD)
    first = call_wsgi(adapter)
    assert ok(first) and first.body == b"hello"
    assert ok(call_wsgi(adapter))
    assert all("state" not in scope for scope in app.http_scopes)
    assert len(app.http_scopes) == 2
    (error,) = app.send_errors  # send raised inside the app (B6.7), on the lifespan scope only
    assert isinstance(error, RuntimeError) and "lifespan" in str(error)
    assert app.lifespan_ended.wait(TIMEOUT)  # cancelled: it does not linger until close()
    assert app.cancels == 1
    adapter.close()
    assert app.received["lifespan"] == ["lifespan.startup"]  # never lifespan.shutdown
    (warning,) = warnings_from_bridge(caplog)  # one, and no error for the app's exception
    assert warning.levelno == logging.WARNING
    assert "'http.response.start'" in warning.getMessage()
    assert "without lifespan" in warning.getMessage()


@pytest.mark.timeout(10)
def test_b6_4_two_task_app_violating_in_one_task_and_waiting_in_another_is_not_waited_for(
    make_adapter: Callable[..., AsgiToWsgi], caplog: pytest.LogCaptureFixture
) -> None:
    """B6.4: one task sends http.response.start (and dies of the error), the other waits
    on receive() for http.disconnect: the violation alone decides "unsupported"."""
    caplog.set_level(logging.DEBUG, logger="bridge")
    responder_errors: dict[str, BaseException | None] = {}
    waiter_cancelled = threading.Event()
    states: list[object] = []

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            states.append(scope.get("state", "absent"))

        async def respond() -> None:
            await send({"type": "http.response.start", "status": 200, "headers": CT})
            await send({"type": "http.response.body", "body": b"two tasks"})

        responder = asyncio.get_running_loop().create_task(respond())
        try:
            while (await receive())["type"] != "http.disconnect":
                pass
        except asyncio.CancelledError:
            waiter_cancelled.set()
            raise
        finally:
            if responder.done() and not responder.cancelled():
                responder_errors[scope["type"]] = responder.exception()
            else:
                responder.cancel()

    adapter = make_adapter(app, startup_timeout=HELD)
    result = call_wsgi(adapter)
    assert ok(result) and result.body == b"two tasks"
    assert states == ["absent"]
    assert waiter_cancelled.wait(TIMEOUT)
    adapter.close()
    assert isinstance(responder_errors["lifespan"], RuntimeError)
    assert responder_errors["http"] is None
    (warning,) = warnings_from_bridge(caplog)
    assert "'http.response.start'" in warning.getMessage()


@pytest.mark.timeout(10)
def test_b6_4_lifespan_on_with_an_app_violating_the_protocol_gives_a_clear_500(
    make_adapter: Callable[..., AsgiToWsgi], caplog: pytest.LogCaptureFixture
) -> None:
    """B6.4 with lifespan="on": the violation is a startup failure, at once."""
    caplog.set_level(logging.DEBUG, logger="bridge")
    app = IgnoresScopeType()
    adapter = make_adapter(app, lifespan="on", startup_timeout=HELD)
    for _ in range(2):
        result = call_wsgi(adapter)
        assert result.status is not None and result.status.startswith("500 ")
        assert result.body.startswith(b"ASGI lifespan startup failed: ")
        assert b"lifespan='on'" in result.body
        assert b"does not support lifespan" in result.body
        assert b"'http.response.start'" in result.body
    assert app.http_scopes == []
    assert app.lifespan_ended.wait(TIMEOUT)
    adapter.close()
    assert app.received["lifespan"] == ["lifespan.startup"]
    (record,) = warnings_from_bridge(caplog)
    assert record.levelno == logging.ERROR and "'http.response.start'" in record.getMessage()


@pytest.mark.timeout(10)
@pytest.mark.parametrize(
    ("message", "named"),
    [
        ({"type": "lifespan.shutdown.complete"}, "'lifespan.shutdown.complete'"),
        ({"type": "lifespan.shutdown.failed", "message": "x"}, "'lifespan.shutdown.failed'"),
        ({"type": "lifespan.bogus"}, "'lifespan.bogus'"),
        ({"type": "http.response.body", "body": b"x"}, "'http.response.body'"),
        ({"status": 200}, "None"),
        ("lifespan.startup.complete", "a str, not a message dict"),
    ],
)
def test_b6_4_a_wrong_message_during_startup_means_unsupported(
    make_adapter: Callable[..., AsgiToWsgi],
    caplog: pytest.LogCaptureFixture,
    message: Any,
    named: str,
) -> None:
    """B6.4 (revised; before, these raised from send and startup went on, B6.7): any
    send during startup other than startup.complete/failed makes lifespan unsupported,
    even when the app swallows the error and then answers startup.complete after all."""
    caplog.set_level(logging.DEBUG, logger="bridge")
    raised: list[str] = []
    received: list[str] = []

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            received.append((await receive())["type"])
            for attempt in (message, {"type": "lifespan.startup.complete"}):
                try:
                    await send(attempt)
                except RuntimeError as exc:
                    raised.append(str(exc))
            received.append((await receive())["type"])  # never: cancelled instead
            return
        body = b"no state" if "state" not in scope else b"state"
        await send({"type": "http.response.start", "status": 200, "headers": CT})
        await send({"type": "http.response.body", "body": body})

    adapter = make_adapter(app, startup_timeout=HELD)
    result = call_wsgi(adapter)
    assert ok(result) and result.body == b"no state"
    adapter.close()
    assert received == ["lifespan.startup"]
    assert len(raised) == 2  # the violation, then the late startup.complete
    assert "outside lifespan startup" in raised[1]
    (warning,) = warnings_from_bridge(caplog)
    assert named in warning.getMessage() and "without lifespan" in warning.getMessage()


@pytest.mark.timeout(10)
def test_b6_4_an_app_that_swallows_cancellation_holds_no_request_and_is_cancelled_again(
    make_adapter: Callable[..., AsgiToWsgi],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """B6.4: the lifespan task of an unsupported app is cancelled without being waited
    for; if it ignores that, it is cancelled again after _CANCEL_GRACE (one more warning),
    and once more by close(), which ends it here."""
    monkeypatch.setattr(bridge._lifespan, "_CANCEL_GRACE", 0.05)
    caplog.set_level(logging.DEBUG, logger="bridge")
    app = IgnoresScopeType(swallow_cancels=2)
    adapter = make_adapter(app, startup_timeout=HELD, shutdown_timeout=TIMEOUT)
    result = call_wsgi(adapter)
    assert ok(result) and result.body == b"hello"
    assert app.swallowed_all.wait(TIMEOUT)  # the first cancel, then the one after the grace
    assert not app.lifespan_ended.is_set()
    first, second = warnings_from_bridge(caplog)
    assert "without lifespan" in first.getMessage()
    assert "ignored cancellation" in second.getMessage()
    adapter.close()
    assert app.lifespan_ended.is_set() and app.cancels == 3
    assert app.received["lifespan"] == ["lifespan.startup"]
