"""WsgiToAsgi driven in-process as an ASGI app, under asyncio and trio.

Each test names the checklist items (section A) it shows. Every wait is bounded:
`anyio.fail_after` around the ASGI call, `Event.wait(timeout)` on the thread side.
"""

from __future__ import annotations

import contextvars
import io
import logging
import sys
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import anyio
import pytest
from asgi_client import Client, Message
from asgi_client import serve as serve_unchecked
from asgi_scope import http_scope

from bridge import ClientDisconnected, WSGIMiddleware, WsgiToAsgi

pytestmark = pytest.mark.anyio

TIMEOUT = 10


async def serve(app: Any, client: Client, **scope: Any) -> None:
    """Every call here passes the P4 ASGI validator (see tests/asgi_client.py)."""
    await serve_unchecked(app, client, validate=True, **scope)


class Closing:
    """An iterable that records `close()` calls and the thread they ran on."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self.chunks = chunks
        self.closed: list[int] = []
        self.closed_event = threading.Event()

    def __iter__(self) -> Iterator[bytes]:
        return self.chunks

    def close(self) -> None:
        self.closed.append(threading.get_ident())
        self.closed_event.set()


class Boom(Exception):
    """A subclass, so that weak references to it are possible."""


def ok_headers() -> list[tuple[str, str]]:
    return [("Content-Type", "text/plain")]


async def test_alias_and_one_call_per_request_with_a_plain_dict_environ() -> None:
    """A1.1, A1.5: a new plain dict per request; asgi.scope is the server's scope, untouched."""
    seen: list[dict[str, Any]] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        seen.append(environ)
        start_response("200 OK", ok_headers())
        return [b"hi"]

    assert WSGIMiddleware is WsgiToAsgi
    bridged = WsgiToAsgi(app)
    scope = http_scope()
    snapshot = dict(scope)
    client = Client()
    with anyio.fail_after(TIMEOUT):
        await bridged(scope, client.receive, client.send)
    await serve(bridged, Client())
    assert len(seen) == 2 and seen[0] is not seen[1]
    assert type(seen[0]) is dict
    assert seen[0]["asgi.scope"] is scope and scope == snapshot
    assert seen[0]["wsgi.input_terminated"] is True


async def test_list_response_is_one_batch_with_content_length() -> None:
    """A5.5, A6.1, A6.2: one start (lowercase names), then the body ending in more_body=False."""

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain"), ("X-Caf", "café")])
        return [b"hello"]

    client = Client()
    await serve(WsgiToAsgi(app), client)
    start = client.sent[0]
    assert start["status"] == 200
    assert (b"content-type", b"text/plain") in start["headers"]
    assert (b"x-caf", "café".encode("latin-1")) in start["headers"]
    assert (b"content-length", b"5") in start["headers"]
    assert client.sent[1:] == [{"type": "http.response.body", "body": b"hello", "more_body": False}]


async def test_a_chunk_that_completes_the_content_length_ends_the_response() -> None:
    """A5.6, A6.2: Flask's shape (an iterator, one chunk, Content-Length) is one batch.

    The chunk that reaches the declared length carries ``more_body=False``
    itself, so the response needs no trailing empty body; the iterator is not
    asked for more, and close() runs once.
    """
    client = Client()
    body = Closing(iter([b"hello", b"never read"]))

    def app(environ: dict[str, Any], start_response: Any) -> Closing:
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "5")])
        return body

    await serve(WsgiToAsgi(app), client)
    assert client.sent[1:] == [{"type": "http.response.body", "body": b"hello", "more_body": False}]
    assert len(body.closed) == 1
    assert next(body.chunks) == b"never read"  # never pulled by the bridge


CLOSE_FAILS_AFTER = {
    "a list": lambda: [b"hel", b"lo"],
    "the chunk that reaches Content-Length": lambda: iter([b"hello"]),
    "a stream without Content-Length": lambda: iter([b"hel", b"lo"]),
}


@pytest.mark.parametrize("shape", sorted(CLOSE_FAILS_AFTER))
async def test_close_raising_after_the_whole_body_delivers_it_then_raises(shape: str) -> None:
    """Issue 13: a failing close() (Flask's teardown) after the whole body does not cost
    the client its response: the response goes out complete, then the ASGI call raises
    the error, so the server logs it and a test client raises it. (Until issue 13 a
    failure of close() after a Content-Length response was an error before anything
    was sent: the client got a 500 for a response the app had finished.)"""

    class Failing(Closing):
        def close(self) -> None:
            super().close()
            raise Boom("close failed")

    body = Failing(iter(CLOSE_FAILS_AFTER[shape]()))

    def app(environ: dict[str, Any], start_response: Any) -> Closing:
        headers = [("Content-Type", "text/plain")]
        if shape != "a stream without Content-Length":
            headers.append(("Content-Length", "5"))
        start_response("200 OK", headers)
        return body

    client = Client()
    with pytest.raises(Boom, match="close failed"):
        await serve_unchecked(WsgiToAsgi(app), client)
    assert client.status == 200 and client.body == b"hello" and client.complete
    assert len(body.closed) == 1


async def test_the_asgi_call_ends_after_close_for_a_content_length_response() -> None:
    """close() (Flask's teardown) has finished when the ASGI call returns."""
    events: list[str] = []

    class Recorded(Closing):
        def close(self) -> None:
            threading.Event().wait(0.05)
            events.append("closed")
            super().close()

    def app(environ: dict[str, Any], start_response: Any) -> Closing:
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "5")])
        return Recorded(iter([b"hello"]))

    client = Client()
    await serve(WsgiToAsgi(app), client)
    events.append("returned")
    assert events == ["closed", "returned"]
    assert client.sent[1:] == [{"type": "http.response.body", "body": b"hello", "more_body": False}]


async def test_exc_info_replaces_headers_before_anything_was_sent() -> None:
    """A4.6, A4.8, A5.3: an empty first chunk does not commit; the client sees only the 500."""
    refs: list[weakref.ref[BaseException]] = []

    def app(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        start_response("200 OK", ok_headers())
        yield b""
        try:
            raise Boom("boom")
        except Boom as exc:
            refs.append(weakref.ref(exc))
            start_response("500 Internal Server Error", ok_headers(), sys.exc_info())
        yield b"error page"

    client = Client()
    # Issue 13: the exception is not lost; it comes out of the ASGI call once the
    # replacement response went out whole (the server logs it, TestClient raises it).
    with pytest.raises(Boom, match="boom"):
        await serve(WsgiToAsgi(app), client)
    assert client.status == 500
    assert client.body == b"error page" and client.complete
    assert [m["type"] for m in client.sent].count("http.response.start") == 1
    import gc

    gc.collect()
    assert refs and refs[0]() is None


BAD_START_RESPONSE_CALLS = {
    "no space": ("200", [("Content-Type", "text/plain")]),
    "no reason separator": ("200OK", [("Content-Type", "text/plain")]),
    "crlf in status": ("200 OK\r\nX: y", [("Content-Type", "text/plain")]),
    "1xx status": ("101 Switching Protocols", []),
    "crlf in header value": ("200 OK", [("X-A", "a\r\nb")]),
    "nul in header value": ("200 OK", [("X-A", "a\x00")]),
    "not latin-1": ("200 OK", [("X-A", "\u0100")]),
    "non-token name": ("200 OK", [("X A", "v")]),
}


@pytest.mark.parametrize("case", sorted(BAD_START_RESPONSE_CALLS))
async def test_bad_start_response_raises_inside_the_app_and_a_retry_needs_exc_info(
    case: str,
) -> None:
    """A4.2, A4.3, A4.5: raised at call time; calling again requires exc_info."""
    status, headers = BAD_START_RESPONSE_CALLS[case]
    errors: list[type[BaseException]] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        try:
            start_response(status, headers)
        except ValueError as exc:
            errors.append(type(exc))
            try:
                start_response("200 OK", ok_headers())
            except RuntimeError as second:
                errors.append(type(second))
            start_response("400 Bad Request", ok_headers(), sys.exc_info())
        return [b"refused"]

    client = Client()
    with pytest.raises(ValueError):  # reported with exc_info: raised after the 400 went out
        await serve(WsgiToAsgi(app), client)
    assert errors == [ValueError, RuntimeError]
    assert client.status == 400 and client.body == b"refused" and client.complete


async def test_hop_by_hop_headers_are_dropped_and_write_is_returned() -> None:
    """A4.1, A4.4."""

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        write = start_response("200 OK", [("Connection", "close"), ("X-Ok", "1")])
        assert callable(write)
        return [b"done"]

    client = Client()
    await serve(WsgiToAsgi(app), client)
    names = [name for name, _ in client.sent[0]["headers"]]
    assert b"connection" not in names and b"x-ok" in names


async def test_exc_info_after_headers_were_sent_reraises() -> None:
    """A4.7."""
    outcome: list[str] = []

    def app(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        start_response("200 OK", ok_headers())
        yield b"part"
        try:
            raise KeyError("late")
        except KeyError:
            try:
                start_response("500 Error", ok_headers(), sys.exc_info())
            except KeyError:
                outcome.append("re-raised")
                raise

    client = Client()
    with pytest.raises(KeyError):
        await serve(WsgiToAsgi(app), client)
    assert outcome == ["re-raised"]
    assert client.status == 200 and not client.complete  # A6.4: no final more_body=False


async def test_error_before_headers_propagates_and_sends_nothing() -> None:
    """A6.3."""

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        raise ZeroDivisionError

    client = Client()
    with pytest.raises(ZeroDivisionError):
        await serve(WsgiToAsgi(app), client)
    assert client.sent == []


async def test_str_chunk_is_refused_and_close_still_runs() -> None:
    """A5.2, A5.4."""
    body = Closing(iter(["text"]))  # type: ignore[list-item]

    def app(environ: dict[str, Any], start_response: Any) -> Closing:
        start_response("200 OK", ok_headers())
        return body

    with pytest.raises(TypeError, match="not bytes"):
        await serve(WsgiToAsgi(app), Client())
    assert len(body.closed) == 1


async def test_start_response_may_come_in_the_first_next() -> None:
    """A5.1: a generator app calls start_response only when the bridge first pulls it."""
    called_at_return: list[bool] = []
    started = False

    def body(start_response: Any) -> Iterator[bytes]:
        nonlocal started
        started = True
        start_response("200 OK", ok_headers())
        yield b"late"
        yield b" start"

    def app(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        iterable = body(start_response)
        called_at_return.append(started)
        return iterable

    client = Client()
    await serve(WsgiToAsgi(app), client)
    assert called_at_return == [False]
    assert client.status == 200 and client.body == b"late start" and client.complete


def _only(chunks: list[bytes]) -> Iterator[bytes]:
    yield from chunks


NO_START_RESPONSE: dict[str, Callable[[], Iterable[bytes]]] = {
    "list with a chunk": lambda: [b"body"],
    "generator with a chunk": lambda: _only([b"", b"body"]),
    "empty list": lambda: [],
    "generator ending empty": lambda: _only([b"", b""]),
}


@pytest.mark.parametrize("case", sorted(NO_START_RESPONSE))
async def test_a_response_without_start_response_raises(case: str) -> None:
    """A5.1: a non-empty chunk, or the end of iteration, without start_response is an error."""
    make = NO_START_RESPONSE[case]

    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        return make()

    client = Client()
    with pytest.raises(RuntimeError, match="start_response"):
        await serve(WsgiToAsgi(app), client)
    assert client.sent == []


async def test_close_exactly_once_on_the_worker_thread_after_success() -> None:
    """A5.4: close() runs once, on the thread that ran the app."""
    app_threads: list[int] = []
    body = Closing(iter([b"a", b"b"]))

    def app(environ: dict[str, Any], start_response: Any) -> Closing:
        app_threads.append(threading.get_ident())
        start_response("200 OK", ok_headers())
        return body

    client = Client()
    await serve(WsgiToAsgi(app), client)
    assert client.body == b"ab" and client.complete
    assert body.closed == app_threads
    assert app_threads[0] != threading.get_ident()


async def test_content_length_cut_off_stops_iteration() -> None:
    """A5.6: never more than the declared length; iteration stops; close() runs."""
    produced: list[int] = []

    def chunks() -> Iterator[bytes]:
        for i in range(100):
            produced.append(i)
            yield b"0123456789"

    body = Closing(chunks())

    def app(environ: dict[str, Any], start_response: Any) -> Closing:
        start_response("200 OK", [("Content-Length", "15")])
        return body

    client = Client()
    await serve(WsgiToAsgi(app), client)
    assert client.body == b"012345678901234" and client.complete
    assert len(produced) == 2 and len(body.closed) == 1


async def test_send_raising_oserror_stops_and_closes() -> None:
    """A6.5: the call ends, close() runs, send is not called again."""
    calls = 0

    async def hook(message: Message) -> None:
        nonlocal calls
        calls += 1
        if calls >= 2:
            raise OSError("client gone")

    def endless() -> Iterator[bytes]:
        while True:
            yield b"x" * 100

    body = Closing(endless())

    def app(environ: dict[str, Any], start_response: Any) -> Closing:
        start_response("200 OK", ok_headers())
        return body

    await serve(WsgiToAsgi(app), Client(send_hook=hook))
    assert body.closed_event.wait(TIMEOUT)
    assert calls == 2


async def test_disconnect_while_streaming_closes_an_endless_generator() -> None:
    """A6.6: servers whose send silently drops data: http.disconnect stops the app."""
    sends = 0
    client: Client

    async def hook(message: Message) -> None:
        nonlocal sends
        sends += 1
        if sends == 3:
            client.disconnect.set()

    def endless() -> Iterator[bytes]:
        while True:
            yield b"tick"

    body = Closing(endless())

    def app(environ: dict[str, Any], start_response: Any) -> Closing:
        start_response("200 OK", ok_headers())
        return body

    client = Client(send_hook=hook)
    client.incoming = []  # no body: only the disconnect will ever arrive
    await serve(WsgiToAsgi(app), client)
    assert body.closed_event.wait(TIMEOUT)
    assert not client.complete


async def test_cancelling_the_asgi_task_closes_the_iterable() -> None:
    """A6.7: a cancelled ASGI call wakes the worker and close() runs."""
    first_sent = anyio.Event()

    async def hook(message: Message) -> None:
        if message["type"] == "http.response.body":
            first_sent.set()

    def endless() -> Iterator[bytes]:
        while True:
            yield b"x"

    body = Closing(endless())

    def app(environ: dict[str, Any], start_response: Any) -> Closing:
        start_response("200 OK", ok_headers())
        return body

    client = Client(send_hook=hook)
    with anyio.fail_after(TIMEOUT):
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(WsgiToAsgi(app), http_scope(), client.receive, client.send)
            await first_sent.wait()
            tasks.cancel_scope.cancel()
    assert body.closed_event.wait(TIMEOUT)


async def test_backpressure_bounds_how_far_the_app_runs_ahead() -> None:
    """A5.7: an endless generator never gets more than send_queue_size chunks ahead."""
    produced = 0
    max_lead = 0
    sent_bodies = 0
    client: Client

    async def hook(message: Message) -> None:
        nonlocal sent_bodies, max_lead
        if message["type"] == "http.response.body":
            sent_bodies += 1
            max_lead = max(max_lead, produced - sent_bodies)
            await anyio.sleep(0)  # a slow client: yield to the loop every chunk
            if sent_bodies == 200:
                client.disconnect.set()

    def endless() -> Iterator[bytes]:
        nonlocal produced
        while True:
            produced += 1
            yield b"chunk"

    def app(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        start_response("200 OK", ok_headers())
        return endless()

    client = Client(send_hook=hook)
    client.incoming = []
    await serve(WsgiToAsgi(app, send_queue_size=2), client)
    assert sent_bodies >= 200
    assert max_lead <= 2 + 2  # the queue, plus the chunk in hand and the one being sent


async def test_write_goes_first_and_returns_after_its_send() -> None:
    """A4.9, A4.10: write() sends headers, precedes iterable data, and waits for its send."""
    sent_before_write_returned: list[int] = []
    client: Client

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        write = start_response("200 OK", ok_headers())
        write(b"first,")
        sent_before_write_returned.append(len(client.sent))
        with pytest.raises(TypeError):
            write("text")  # type: ignore[arg-type]
        return [b"second"]

    client = Client()
    await serve(WsgiToAsgi(app), client)
    assert sent_before_write_returned == [2]  # start + the written chunk were sent
    assert client.body == b"first,second" and client.complete


async def test_file_wrapper_streams_from_the_current_position_and_closes_the_file() -> None:
    """A2.20: wsgi.file_wrapper(filelike) reads from the file's position in 8192-byte blocks;
    nothing is read or sent before the app returns it, and the bridge's close() closes the file.
    (Mapping it to pathsend/zerocopysend is a MAY the bridge does not do: docs "Known gaps".)
    """
    data = bytes(range(256)) * 100
    stream = io.BytesIO(data)
    stream.seek(100)
    at_return: list[tuple[int, int]] = []
    client: Client

    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        start_response("200 OK", ok_headers())
        wrapper: Iterable[bytes] = environ["wsgi.file_wrapper"](stream)
        at_return.append((len(client.sent), stream.tell()))
        return wrapper

    client = Client()
    await serve(WsgiToAsgi(app), client)
    assert at_return == [(0, 100)]
    assert client.body == data[100:] and client.complete
    assert max(len(m["body"]) for m in client.sent[1:]) == 8192
    assert stream.closed


async def test_body_is_read_lazily_and_streams_across_messages() -> None:
    """A3.5, A3.6, A2.19: nothing received before the first read; chunked body read whole."""
    receive_calls_at_entry: list[int] = []
    client = Client([b"line one\nline ", b"two\n", b"tail"])

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        receive_calls_at_entry.append(client.receive_calls)
        stream = environ["wsgi.input"]
        lines = [stream.readline(), stream.readline()]
        rest = stream.read()
        start_response("200 OK", ok_headers())
        return [b"|".join([*lines, rest])]

    await serve(
        WsgiToAsgi(app),
        client,
        method="POST",
        headers=[(b"transfer-encoding", b"chunked")],
    )
    assert receive_calls_at_entry == [0]
    assert client.body == b"line one\n|line two\n|tail"


async def test_request_without_body_never_calls_receive_before_responding() -> None:
    """A request with no body costs no receive() at all for a one-batch response."""

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        assert environ["wsgi.input"].read() == b""
        start_response("204 No Content", [])
        return []

    client = Client()
    await serve(WsgiToAsgi(app), client)
    assert client.receive_calls == 0
    assert client.status == 204 and client.complete


@pytest.mark.parametrize("preread_size", [0, 1024], ids=["read lazily", "pre-read"])
async def test_disconnect_mid_upload_raises_oserror_not_eof(preread_size: int) -> None:
    """A3.7. With a body small enough to pre-read (A3.6), the app is never called."""
    outcome: list[object] = []
    finished = threading.Event()

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        try:
            outcome.append(environ["wsgi.input"].read())
        except OSError as exc:
            outcome.append(exc)
        finally:
            finished.set()
        start_response("200 OK", ok_headers())
        return [b"ignored"]

    client = Client([b"partial"], disconnect_after_body=True)
    bridged = WsgiToAsgi(app, preread_size=preread_size)
    await serve(bridged, client, method="POST", headers=[(b"content-length", b"100")])
    if preread_size:
        assert outcome == [] and client.sent == []  # nobody to answer, nothing to run
        return
    # The ASGI call ends as soon as the client is gone (A6.5); the app finishes after.
    assert finished.wait(TIMEOUT)
    assert len(outcome) == 1 and isinstance(outcome[0], ClientDisconnected)
    assert client.sent == []  # nothing goes to a client that left


async def test_conflicting_content_length_is_a_400_without_calling_the_app() -> None:
    """A2.8, A2.13."""
    called = False

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        nonlocal called
        called = True
        return []

    for headers in (
        [(b"content-length", b"5"), (b"content-length", b"6")],
        [(b"x-many", b"v")] * 4,
    ):
        client = Client()
        await serve(WsgiToAsgi(app, duplicate_header_limit=3), client, headers=headers)
        assert client.status == 400 and client.complete
    assert not called


async def test_lifespan_websocket_and_unknown_scopes() -> None:
    """A1.2-A1.4."""

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        raise AssertionError("the WSGI app must not be called")

    bridged = WsgiToAsgi(app)
    queue = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent: list[Message] = []

    async def receive() -> Message:
        return queue.pop(0)

    async def send(message: Message) -> None:
        sent.append(message)

    with anyio.fail_after(TIMEOUT):
        await bridged({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send)
    kinds = [m["type"] for m in sent]
    assert kinds == ["lifespan.startup.complete", "lifespan.shutdown.complete"]

    # A WebSocket reaches the app (issue 16); failing before any handshake, it is
    # refused (close before accept: 403) and its error raised for the server to log.
    sent.clear()
    queue[:] = [{"type": "websocket.connect"}]
    with anyio.fail_after(TIMEOUT), pytest.raises(AssertionError, match="must not be called"):
        await bridged(http_scope(type="websocket"), receive, send)
    assert [m["type"] for m in sent] == ["websocket.close"]

    with pytest.raises(ValueError, match="scope type"):
        await bridged({"type": "mystery"}, receive, send)


async def test_websocket_is_closed_after_connect_and_before_any_accept() -> None:
    """A1.3: websocket.connect is awaited; a WSGI app that answers the upgrade request
    with a plain response (no handshake) refuses it: websocket.close (no accept) is the
    only message sent when the server offers no websocket.http.response, so the server
    answers 403; no exception. (WebSockets that work: tests/test_websocket_*.py.)
    """
    calls: list[dict[str, Any]] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        calls.append(environ)
        start_response("200 OK", ok_headers())
        return [b"never"]

    events: list[str] = []

    async def receive() -> Message:
        events.append("receive")
        return {"type": "websocket.connect"}

    async def send(message: Message) -> None:
        events.append(message["type"])

    scope = http_scope(type="websocket", scheme="ws", subprotocols=[])
    with anyio.fail_after(TIMEOUT):
        returned = await WsgiToAsgi(app)(scope, receive, send)
    assert returned is None
    assert events == ["receive", "websocket.close"]
    assert len(calls) == 1 and calls[0]["HTTP_UPGRADE"] == "websocket"


async def test_workers_run_requests_in_parallel_with_the_tasks_contextvars() -> None:
    """A5.8: four requests meet at a barrier only if they run at once; contextvars flow in."""
    barrier = threading.Barrier(4, timeout=TIMEOUT)
    request_id: contextvars.ContextVar[int] = contextvars.ContextVar("request_id")
    seen: list[tuple[int, bool]] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        barrier.wait()
        seen.append((request_id.get(), environ["wsgi.multithread"]))
        start_response("200 OK", ok_headers())
        return [b"ok"]

    bridged = WsgiToAsgi(app, workers=4)

    async def one(number: int) -> None:
        request_id.set(number)
        await serve(bridged, Client())

    with anyio.fail_after(TIMEOUT):
        async with anyio.create_task_group() as tasks:
            for number in range(4):
                tasks.start_soon(one, number)
    assert sorted(seen) == [(0, True), (1, True), (2, True), (3, True)]


async def test_each_backend_is_really_in_use(anyio_backend: Any) -> None:
    """The suite's three backends are what they say: asyncio, trio and uvloop."""
    import asyncio

    running = asyncio._get_running_loop()
    if anyio_backend == "trio":
        assert running is None
    elif isinstance(anyio_backend, tuple):
        assert type(running).__module__.startswith("uvloop")
    else:
        assert type(running).__module__.startswith("asyncio")

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", ok_headers())
        return [b"served"]

    client = Client()
    await serve(WsgiToAsgi(app), client)
    assert client.body == b"served"


@pytest.mark.parametrize("as_list", [True, False])
async def test_fewer_bytes_than_content_length_is_logged(
    caplog: pytest.LogCaptureFixture, as_list: bool
) -> None:
    """A5.6: too few bytes is reported as an error, not completed quietly."""

    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Length", "10")])
        return [b"short"] if as_list else iter([b"short"])

    client = Client()
    with caplog.at_level("ERROR", logger="bridge"):
        await serve(WsgiToAsgi(app), client)
    assert client.body == b"short"
    assert "5 bytes fewer" in caplog.text


async def test_worker_threads_are_bounded_and_end_with_the_adapter() -> None:
    """The pool never exceeds `workers` threads, and they end when the adapter is gone."""
    import gc

    used: list[threading.Thread] = []  # thread objects: names repeat across adapters

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        used.append(threading.current_thread())
        start_response("200 OK", ok_headers())
        return [b"ok"]

    bridged = WsgiToAsgi(app, workers=3)
    for _ in range(12):
        await serve(bridged, Client())
    pool_threads = set(used)
    assert len(used) == 12 and 1 <= len(pool_threads) <= 3
    assert threading.current_thread() not in pool_threads
    del bridged
    gc.collect()
    for thread in pool_threads:
        thread.join(TIMEOUT)
    assert not any(thread.is_alive() for thread in pool_threads)


@pytest.mark.parametrize("when", ["before start_response", "mid-body"])
async def test_the_apps_own_oserror_propagates_and_is_not_taken_for_a_disconnect(
    when: str,
) -> None:
    """ASGI spec 2.4: only an OSError from `send` means the client left."""
    closed = threading.Event()

    class Body:
        def __iter__(self) -> Any:
            yield b"first"
            with open("/nonexistent/bridge-test-file"):  # FileNotFoundError, an OSError
                pass
            yield b"never"

        def close(self) -> None:
            closed.set()

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        if when == "before start_response":
            raise PermissionError("the app's own OSError")
        start_response("200 OK", [("Content-Type", "text/plain")])
        return Body()

    client = Client()
    with pytest.raises(OSError) as raised:
        await serve(WsgiToAsgi(app), client)
    assert not isinstance(raised.value, ClientDisconnected)
    if when == "before start_response":
        assert isinstance(raised.value, PermissionError) and client.sent == []
    else:
        assert isinstance(raised.value, FileNotFoundError)
        assert client.status == 200 and client.body == b"first" and not client.complete
        assert closed.wait(TIMEOUT)


@pytest.mark.parametrize("preread_size", [0, 1024], ids=["read lazily", "pre-read"])
async def test_an_unknown_receive_message_raises_from_the_read_and_the_call(
    preread_size: int,
) -> None:
    """A3.8: a message that is neither http.request nor http.disconnect is an error.

    Pre-read (A3.6), it raises from the ASGI call before the app is called."""
    seen: list[BaseException] = []
    read_failed = threading.Event()

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        try:
            environ["wsgi.input"].read()
        except BaseException as exc:
            seen.append(exc)
            read_failed.set()
            raise
        start_response("200 OK", [])
        return [b"never"]

    client = Client(messages=[{"type": "http.mystery"}])
    bridged = WsgiToAsgi(app, preread_size=preread_size)
    with pytest.raises(RuntimeError, match=r"http\.mystery"):
        await serve_unchecked(bridged, client, method="POST", headers=[(b"content-length", b"3")])
    if preread_size:
        assert seen == [] and client.sent == []
        return
    # The worker thread may record it just after the ASGI call has ended.
    assert await anyio.to_thread.run_sync(read_failed.wait, TIMEOUT)
    # The read raised the same error (it never looked like EOF).
    assert len(seen) == 1 and isinstance(seen[0], RuntimeError)
    assert "http.mystery" in str(seen[0])
    assert client.sent == []


async def test_an_exc_info_error_is_logged_when_the_client_leaves_first() -> None:
    """Found in review: the app replaced its response through exc_info, then the client
    left mid-stream. The ASGI call cannot raise the error any more (the client is gone
    and the call ends quietly, A6.5); it is logged once instead, and let go."""
    logged: list[type[BaseException]] = []
    seen = threading.Event()

    class Watch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.exc_info and record.exc_info[0] is not None:
                logged.append(record.exc_info[0])
                seen.set()

    def app(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        start_response("200 OK", ok_headers())
        try:
            raise Boom("replaced")
        except Boom:
            start_response("500 Internal Server Error", ok_headers(), sys.exc_info())
        yield b"error page, part 1"
        yield b"part 2"
        yield b"part 3"

    async def leave_on_the_second_body(message: dict[str, Any]) -> None:
        if message.get("body") == b"part 2":
            raise ClientDisconnected("the client left")

    watch = Watch(logging.ERROR)
    logging.getLogger("bridge").addHandler(watch)
    try:
        client = Client(send_hook=leave_on_the_second_body)
        await serve(WsgiToAsgi(app), client)  # returns: the client is gone
        assert await anyio.to_thread.run_sync(seen.wait, TIMEOUT)
    finally:
        logging.getLogger("bridge").removeHandler(watch)
    assert logged == [Boom]
    assert client.status == 500 and not client.complete
