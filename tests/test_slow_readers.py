"""Issue 14, responses: a slow reader costs memory within a bound, not a worker thread.

* ``response_buffer_size``: the app runs ahead of the client by at most that
  many bytes of body (one chunk larger than the bound still goes, alone).
* A worker that finds no room for ``_PARK_AFTER`` seconds gives its thread
  back; the iterator goes on later on a free worker, in the request's own
  ``contextvars`` context. ``pin_response_thread=True`` keeps one thread per
  response instead.
* A client that leaves while the iterator is parked: the iterable is closed
  exactly once, and nothing keeps a worker.

Counts, not clocks: each test observes what the app produced, which threads
are busy and what the client got; every wait is bounded by ``anyio.fail_after``
or a counted loop.
"""

from __future__ import annotations

import contextvars
import logging
import threading
from collections.abc import Iterator
from typing import Any

import anyio
import pytest
from asgi_client import TIMEOUT, Client, serve
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import bridge._wsgi_to_asgi as w2a
from bridge import WsgiToAsgi
from bridge._channel import Channel

pytestmark = pytest.mark.timeout(60)

Message = dict[str, Any]
request_tag: contextvars.ContextVar[str] = contextvars.ContextVar("request_tag")


class Stream:
    """A WSGI app streaming ``count`` chunks of ``size`` bytes; records what it did."""

    def __init__(self, count: int, size: int, *, close_error: Exception | None = None) -> None:
        self.count = count
        self.size = size
        self.produced = 0
        self.threads: list[int] = []
        self.tags: list[str | None] = []
        self.closes = 0
        self.closed = threading.Event()
        self.close_error = close_error

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if environ["PATH_INFO"] == "/quick":
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"hi"]
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        request_tag.set(environ["PATH_INFO"])  # set in the app call: seen by every chunk
        return _Body(self)

    def chunks(self) -> Iterator[bytes]:
        for index in range(self.count):
            self.produced += 1
            self.threads.append(threading.get_ident())
            self.tags.append(request_tag.get(None))
            yield bytes([65 + index % 26]) * self.size


class _Body:
    """The app's iterable: a generator plus a close() that counts (and may raise)."""

    def __init__(self, stream: Stream) -> None:
        self.stream = stream
        self.iterator = stream.chunks()

    def __iter__(self) -> Iterator[bytes]:
        return self.iterator

    def close(self) -> None:
        self.stream.closes += 1
        self.iterator.close()
        self.stream.closed.set()
        if self.stream.close_error is not None:
            raise self.stream.close_error


class StalledClient(Client):
    """A client that takes the start and ``first`` body messages, then stops reading.

    Its ``send`` waits until ``release`` is set (or raises ``OSError`` once
    ``vanish`` is set), as a server's send does for a client that does not read.
    """

    def __init__(self, first: int = 1) -> None:
        super().__init__()
        self.first = first
        self.release = anyio.Event()
        self.stalled = anyio.Event()
        self.vanished = False

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.body" and len(self.sent) > self.first:
            self.stalled.set()
            await self.release.wait()
            if self.vanished:
                raise OSError("the client went away")
        await super().send(message)


async def wait_until(predicate: Any, what: str, rounds: int = 2000) -> None:
    """Poll ``predicate`` (a bounded number of times, 5 ms apart) until it holds."""
    for _ in range(rounds):
        if predicate():
            return
        await anyio.sleep(0.005)
    raise AssertionError(f"never happened: {what}")


def expected_body(count: int, size: int) -> bytes:
    return b"".join(bytes([65 + i % 26]) * size for i in range(count))


@pytest.mark.anyio
async def test_a_slow_reader_gives_its_worker_back() -> None:
    """With one worker, a response whose client stopped reading holds no thread: a
    second request is served meanwhile, then the slow response completes whole."""
    app = Stream(count=40, size=16 * 1024)
    bridged = WsgiToAsgi(app, workers=1)
    slow = StalledClient()
    with anyio.fail_after(TIMEOUT):
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(serve, bridged, slow, TIMEOUT)
            await slow.stalled.wait()
            pool = bridged._get_executor()
            await wait_until(lambda: not pool.busy, "the worker was given back")
            assert app.produced < app.count  # parked mid-response, not finished
            quick = Client()
            await serve(bridged, quick, path="/quick")  # on the same single worker
            assert quick.body == b"hi"
            slow.release.set()
    assert slow.complete and slow.body == expected_body(40, 16 * 1024)
    assert app.closes == 1
    assert app.tags == ["/"] * 40  # one contextvars context across every step


@pytest.mark.anyio
async def test_pin_response_thread_keeps_one_thread_per_response() -> None:
    """The opt-out: the iterator runs on the thread that called the app, start to end,
    and that thread stays busy while the client does not read."""
    app = Stream(count=40, size=16 * 1024)
    bridged = WsgiToAsgi(app, workers=1, pin_response_thread=True)
    slow = StalledClient()
    with anyio.fail_after(TIMEOUT):
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(serve, bridged, slow, TIMEOUT)
            await slow.stalled.wait()
            pool = bridged._get_executor()
            await wait_until(lambda: app.produced >= 3, "the app ran ahead")
            assert len(pool.busy) == 1  # blocked in put(), holding the only worker
            slow.release.set()
    assert slow.body == expected_body(40, 16 * 1024)
    assert len(set(app.threads)) == 1
    assert app.closes == 1


class ChannelRecorder:
    """Replaces ``Channel`` in the bridge to keep each request's ``out`` channel."""

    def __init__(self) -> None:
        self.channels: list[Channel[Any]] = []

    def __call__(self, handle: Any, capacity: int = 1, max_bytes: int | None = None) -> Any:
        channel: Channel[Any] = Channel(handle, capacity, max_bytes)
        self.channels.append(channel)
        return channel


@pytest.mark.anyio
@pytest.mark.parametrize("pinned", [False, True], ids=["released", "pinned"])
async def test_the_run_ahead_stays_within_response_buffer_size(
    pinned: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A client that stopped reading: the app produced at most the bound's worth of
    chunks beyond what the client took (queued, plus one in send, plus one in hand)."""
    recorder = ChannelRecorder()
    monkeypatch.setattr(w2a, "Channel", recorder)
    size, bound = 4 * 1024, 16 * 1024
    app = Stream(count=64, size=size)
    bridged = WsgiToAsgi(app, workers=1, response_buffer_size=bound, pin_response_thread=pinned)
    slow = StalledClient(first=1)
    with anyio.fail_after(TIMEOUT):
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(serve, bridged, slow, TIMEOUT)
            await slow.stalled.wait()
            out = recorder.channels[0]
            pool = bridged._get_executor()
            if pinned:
                await wait_until(lambda: len(out) >= bound // size, "the bound filled")
            else:
                await wait_until(lambda: not pool.busy, "the worker parked")
            produced_while_stalled = app.produced
            slow.release.set()
    assert out.peak_bytes <= bound
    # Taken by the client (2), in send (1), queued (bound // size), in hand (1).
    assert produced_while_stalled <= 2 + 1 + bound // size + 1
    assert slow.body == expected_body(64, size)


@pytest.mark.anyio
async def test_a_chunk_larger_than_the_bound_still_goes_alone() -> None:
    app = Stream(count=5, size=64 * 1024)
    bridged = WsgiToAsgi(app, workers=1, response_buffer_size=1024)
    client = Client()
    await serve(bridged, client)
    assert client.body == expected_body(5, 64 * 1024)
    assert app.closes == 1


@pytest.mark.anyio
async def test_a_client_that_leaves_while_parked_gets_the_iterable_closed_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The loop side finds the parked call and closes its iterable on a worker; a
    close() that raises is logged once (nobody else can raise it now)."""
    app = Stream(count=40, size=16 * 1024, close_error=ValueError("teardown failed"))
    bridged = WsgiToAsgi(app, workers=1)
    slow = StalledClient()
    with anyio.fail_after(TIMEOUT), caplog.at_level(logging.ERROR, logger="bridge"):
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(serve, bridged, slow, TIMEOUT)
            await slow.stalled.wait()
            pool = bridged._get_executor()
            await wait_until(lambda: not pool.busy, "the worker parked")
            slow.vanished = True
            slow.release.set()
        assert await anyio.to_thread.run_sync(app.closed.wait, TIMEOUT)
        await wait_until(lambda: not pool.busy, "the close ended")
    assert app.closes == 1
    assert app.produced < app.count
    logged = [r for r in caplog.records if "teardown failed" in str(r.exc_info)]
    assert len(logged) == 1


def test_a_park_that_finds_the_asgi_side_gone_closes_the_iterable() -> None:
    """The other order of the race: ``out`` closed before the marker could be queued,
    so the worker itself abandons the call."""

    async def main() -> None:
        out: Channel[Any] = Channel(w2a.LoopHandle(), 1)
        app = Stream(count=3, size=1)
        environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/"}
        call = w2a._WsgiCall(app, environ, out, park_after=0.0)
        call.context = contextvars.copy_context()
        body = app(environ, lambda *a: None)
        call.iterable, call.iterator = body, iter(body)
        out.close(w2a.ClientDisconnected("gone"))
        call._park()
        assert app.closes == 1 and call.iterable is None

    anyio.run(main)


@pytest.mark.anyio
async def test_parking_keeps_the_request_context_and_every_byte_in_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``_PARK_AFTER = 0``: every full channel parks the iterator. A context variable
    set by the ASGI side before the call and one set by the app are seen by every
    chunk, whichever thread runs it."""
    monkeypatch.setattr(w2a, "_PARK_AFTER", 0.0)
    outer: contextvars.ContextVar[str] = contextvars.ContextVar("outer")
    outer.set("from the server")
    seen: list[str] = []

    def app(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        start_response("200 OK", [])
        request_tag.set("from the app")
        for i in range(200):
            seen.append(outer.get() + "/" + request_tag.get())
            yield b"%05d" % i

    client = Client()
    await serve(WsgiToAsgi(app, workers=2, send_queue_size=1, response_buffer_size=1), client)
    assert client.body == b"".join(b"%05d" % i for i in range(200))
    assert seen == ["from the server/from the app"] * 200


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    parts=st.lists(st.binary(min_size=0, max_size=3000), max_size=30),
    queue_size=st.integers(1, 4),
    buffer_size=st.integers(1, 8192),
    slow_every=st.integers(1, 5),
    backend=st.sampled_from(["asyncio", "trio"]),
)
def test_parked_streams_deliver_every_byte(
    *,
    parts: list[bytes],
    queue_size: int,
    buffer_size: int,
    slow_every: int,
    backend: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Whatever the chunk sizes and bounds, with parking forced at every full channel
    and a client that yields to the loop now and then, the body arrives whole, in
    order, and the iterable is closed once."""
    monkeypatch.setattr(w2a, "_PARK_AFTER", 0.0)
    closes: list[int] = []

    class Body:
        def __iter__(self) -> Iterator[bytes]:
            return iter(parts)

        def close(self) -> None:
            closes.append(1)

    def app(environ: dict[str, Any], start_response: Any) -> Body:
        start_response("200 OK", [])
        return Body()

    sends = 0

    async def hook(message: Message) -> None:
        nonlocal sends
        sends += 1
        if sends % slow_every == 0:
            for _ in range(3):
                await anyio.sleep(0)

    async def main() -> bytes:
        client = Client(send_hook=hook)
        bridged = WsgiToAsgi(
            app, workers=2, send_queue_size=queue_size, response_buffer_size=buffer_size
        )
        await serve(bridged, client, validate=True)
        assert client.complete
        return client.body

    assert anyio.run(main, backend=backend) == b"".join(parts)
    assert closes == [1]


def test_response_buffer_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="response_buffer_size"):
        WsgiToAsgi(lambda e, s: [], response_buffer_size=0)
    assert WsgiToAsgi(lambda e, s: []).response_buffer_size == w2a.DEFAULT_RESPONSE_BUFFER_SIZE


def test_a_new_request_runs_before_steps_of_waiting_responses() -> None:
    """The pool's two priorities: with its one worker busy, a step queued by
    ``submit_later`` (a response resuming) runs after a request submitted later."""
    pool = w2a.WorkerPool(1, "test-priority")
    gate = threading.Event()
    ran: list[str] = []
    done = threading.Event()
    pool.submit(gate.wait, TIMEOUT)
    pool.submit_later(ran.append, "resumed response")
    pool.submit_later(ran.append, "another resumed response")
    pool.submit(ran.append, "new request")
    pool.submit_later(done.set)
    gate.set()
    assert done.wait(TIMEOUT)
    assert ran == ["new request", "resumed response", "another resumed response"]
    pool.shutdown(wait=True, timeout=TIMEOUT)
