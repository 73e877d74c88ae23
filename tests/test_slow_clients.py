"""Issue 14: slow clients do not starve WsgiToAsgi's worker pool (in-process).

* A small declared body is received on the loop before a worker is taken
  (``preread_size``, checklist A3.6 revised): a slow uploader holds no thread.
* ``Expect: 100-continue``, larger and chunked bodies stay lazy.
* A body that makes no progress for ``body_timeout`` seconds frees its thread:
  408 before the response began, :class:`bridge.RequestBodyTimeout` from the
  app's read.
* Every worker busy and a request queueing: one warning per period that names
  ``workers``.

Counts, not clocks: each test observes which requests reached the app and
which threads are busy; the only waits are bounded by ``anyio.fail_after``.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import anyio
import pytest
from asgi_client import TIMEOUT, Client, serve
from asgi_scope import http_scope

from bridge import RequestBodyTimeout, WsgiToAsgi
from bridge._wsgi_to_asgi import WorkerPool

pytestmark = pytest.mark.timeout(30)

Message = dict[str, Any]


class Recorder:
    """A WSGI app that records each request's path and body, reading it whole."""

    def __init__(self) -> None:
        self.bodies: dict[str, bytes] = {}
        self.entered: list[str] = []
        self.entered_event = threading.Event()
        self.errors: list[BaseException] = []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        path = environ["PATH_INFO"]
        self.entered.append(path)
        self.entered_event.set()
        try:
            body = environ["wsgi.input"].read()
        except OSError as exc:
            self.errors.append(exc)
            raise
        self.bodies[path] = body
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"got %d" % len(body)]


class GatedUpload:
    """An ASGI server side whose request body arrives only once ``release`` is set."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.release = anyio.Event()
        self.waiting = anyio.Event()  # set once the bridge asked for the body
        self.sent: list[Message] = []
        self._given = False

    async def receive(self) -> Message:
        if self._given:
            await anyio.sleep_forever()
        self.waiting.set()
        await self.release.wait()
        self._given = True
        return {"type": "http.request", "body": self.body, "more_body": False}

    async def send(self, message: Message) -> None:
        self.sent.append(message)


def post_scope(path: str, length: int, *extra: tuple[bytes, bytes]) -> dict[str, Any]:
    headers = [(b"content-length", str(length).encode()), *extra]
    return http_scope(method="POST", path=path, headers=headers)


@pytest.mark.anyio
@pytest.mark.parametrize("preread_size", [1024, 0], ids=["pre-read", "read lazily"])
async def test_a_slow_small_upload_does_not_hold_the_only_worker(preread_size: int) -> None:
    """With pre-read, a request whose body is still on its way never reaches the app, so
    the one worker serves another request meanwhile. Read lazily (the old behaviour,
    ``preread_size=0``), the app runs at once and its worker waits in read()."""
    app = Recorder()
    bridged = WsgiToAsgi(app, workers=1, preread_size=preread_size)
    upload = GatedUpload(b"0123456789")
    with anyio.fail_after(TIMEOUT):
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(bridged, post_scope("/slow", 10), upload.receive, upload.send)
            await upload.waiting.wait()
            if preread_size:
                assert app.entered == []  # no worker taken while the body trickles in
                quick = Client()
                await serve(bridged, quick, path="/quick")
                assert quick.status == 200 and app.entered == ["/quick"]
            else:
                # The app already runs on the only worker, blocked in read().
                assert await anyio.to_thread.run_sync(app.entered_event.wait, TIMEOUT)
                assert app.entered == ["/slow"]
            upload.release.set()
    assert app.bodies["/slow"] == b"0123456789"
    assert upload.sent[-1] == {"type": "http.response.body", "body": b"got 10", "more_body": False}


@pytest.mark.anyio
async def test_expect_100_continue_is_never_pre_read() -> None:
    """A3.6: the client waits for the app to want the body; the app is called first."""
    app = Recorder()
    bridged = WsgiToAsgi(app, workers=1)
    upload = GatedUpload(b"abc")
    scope = post_scope("/continue", 3, (b"expect", b"100-continue"))
    with anyio.fail_after(TIMEOUT):
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(bridged, scope, upload.receive, upload.send)
            await upload.waiting.wait()  # asked for by the app's read, not before it
            assert app.entered == ["/continue"]
            upload.release.set()
    assert app.bodies["/continue"] == b"abc"


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("length", "headers"),
    [
        pytest.param(2048, [], id="larger than preread_size"),
        pytest.param(None, [(b"transfer-encoding", b"chunked")], id="chunked"),
    ],
)
async def test_large_and_chunked_bodies_stay_lazy(
    length: int | None, headers: list[tuple[bytes, bytes]]
) -> None:
    app = Recorder()
    bridged = WsgiToAsgi(app, workers=1, preread_size=1024)
    upload = GatedUpload(b"x" * 2048)
    all_headers = list(headers)
    if length is not None:
        all_headers.append((b"content-length", str(length).encode()))
    scope = http_scope(method="POST", path="/big", headers=all_headers)
    with anyio.fail_after(TIMEOUT):
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(bridged, scope, upload.receive, upload.send)
            await upload.waiting.wait()
            assert app.entered == ["/big"]  # the app ran first and asked for the body
            upload.release.set()
    assert app.bodies["/big"] == b"x" * 2048


@pytest.mark.anyio
async def test_a_pre_read_body_that_stalls_gets_408_without_the_app() -> None:
    app = Recorder()
    bridged = WsgiToAsgi(app, body_timeout=0.2)
    upload = GatedUpload(b"never")  # never released: the client stalls
    with anyio.fail_after(TIMEOUT):
        await bridged(post_scope("/stalled", 5), upload.receive, upload.send)
    assert upload.sent[0]["status"] == 408
    assert b"no request body data for 0.2 s" in upload.sent[1]["body"]
    assert upload.sent[-1]["more_body"] is False
    assert app.entered == []


@pytest.mark.anyio
async def test_a_lazily_read_body_that_stalls_frees_the_worker_with_408() -> None:
    """The app's read raises RequestBodyTimeout (a ClientDisconnected, so an OSError);
    the app lets it through, nothing was sent: the client gets 408 and the worker is
    free again (a second request is served by the same single worker)."""
    app = Recorder()
    bridged = WsgiToAsgi(app, workers=1, preread_size=0, body_timeout=0.2)
    upload = GatedUpload(b"never")
    with anyio.fail_after(TIMEOUT):
        await bridged(post_scope("/stalled", 5), upload.receive, upload.send)
        assert upload.sent[0]["status"] == 408
        assert len(app.errors) == 1 and isinstance(app.errors[0], RequestBodyTimeout)
        quick = Client([b"hi"])
        await serve(
            bridged, quick, method="POST", path="/after", headers=[(b"content-length", b"2")]
        )
    assert quick.status == 200 and app.bodies["/after"] == b"hi"


@pytest.mark.anyio
@pytest.mark.parametrize("style", ["list", "write"])
async def test_a_stalled_body_is_408_whatever_the_app_answers(style: str) -> None:
    """Flask turns the read's error into a 500 of its own: the client still gets 408,
    as nothing was sent yet (the app's answer would blame the server for a slow client)."""
    caught: list[BaseException] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        try:
            environ["wsgi.input"].read()
        except OSError as exc:
            caught.append(exc)
        write = start_response("500 Internal Server Error", [("Content-Type", "text/plain")])
        if style == "write":
            with pytest.raises(RequestBodyTimeout):
                write(b"the app's own error page")
            return []
        return [b"the app's own error page"]

    bridged = WsgiToAsgi(app, preread_size=0, body_timeout=0.2)
    upload = GatedUpload(b"never")
    with anyio.fail_after(TIMEOUT):
        await bridged(post_scope("/stalled", 5), upload.receive, upload.send)
    assert len(caught) == 1 and isinstance(caught[0], RequestBodyTimeout)
    assert upload.sent[0]["status"] == 408
    assert b"own error page" not in b"".join(m.get("body", b"") for m in upload.sent)


@pytest.mark.anyio
async def test_after_a_body_timeout_every_read_raises_again() -> None:
    """A cut upload never looks complete: the read after the timeout raises too."""
    reads: list[object] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        for _ in range(2):
            try:
                reads.append(environ["wsgi.input"].read())
            except OSError as exc:
                reads.append(type(exc))
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"done"]

    bridged = WsgiToAsgi(app, preread_size=0, body_timeout=0.2)
    upload = GatedUpload(b"never")
    with anyio.fail_after(TIMEOUT):
        await bridged(post_scope("/stalled", 100), upload.receive, upload.send)
    assert reads == [RequestBodyTimeout, RequestBodyTimeout]
    assert upload.sent[0]["status"] == 408


@pytest.mark.anyio
async def test_body_timeout_none_and_bad_values() -> None:
    assert WsgiToAsgi(Recorder(), body_timeout=None).body_timeout is None
    bad_values: list[dict[str, float]] = [
        {"preread_size": -1},
        {"body_timeout": 0},
        {"body_timeout": -5.0},
        {"body_timeout": float("inf")},  # past threading.TIMEOUT_MAX: every read would fail
        {"body_timeout": 1e10},
    ]
    for bad in bad_values:
        with pytest.raises(ValueError, match=r"preread_size|body_timeout"):
            WsgiToAsgi(Recorder(), **bad)


def test_a_saturated_pool_warns_once_per_period_naming_workers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Issue 14 item 4: with every thread busy, a submit that must queue is logged once
    (rate-limited); a pool with a free thread never warns."""
    pool = WorkerPool(2, "test-saturation")
    started = threading.Barrier(3)
    release = threading.Event()
    done: list[int] = []

    def hold(n: int) -> None:
        started.wait(TIMEOUT)
        release.wait(TIMEOUT)
        done.append(n)

    def count_warnings() -> int:
        return sum("worker threads are busy" in r.getMessage() for r in caplog.records)

    with caplog.at_level(logging.WARNING, logger="bridge"):
        pool.submit(hold, 1)
        pool.submit(hold, 2)
        started.wait(TIMEOUT)  # both threads are in a job now
        assert len(pool.busy) == 2 and count_warnings() == 0
        pool.submit(done.append, 3)  # queues: warned
        pool.submit(done.append, 4)  # queues again, within the period: not again
        release.set()
    pool.shutdown(wait=True, timeout=TIMEOUT)
    assert sorted(done) == [1, 2, 3, 4]
    assert count_warnings() == 1
    assert "all 2 WSGI worker threads are busy" in caplog.text and "workers=N" in caplog.text


def test_the_busy_count_returns_to_zero() -> None:
    pool = WorkerPool(3, "test-busy")
    finished = threading.Event()
    seen: list[int] = []
    for n in range(5):
        pool.submit(seen.append, n)
    pool.submit(finished.set)
    assert finished.wait(TIMEOUT)
    pool.shutdown(wait=True, timeout=TIMEOUT)
    assert sorted(seen) == [0, 1, 2, 3, 4] and len(pool.busy) == 0
