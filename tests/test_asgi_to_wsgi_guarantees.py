"""AsgiToWsgi driven in-process as a WSGI app (checklist section B).

The driver builds a PEP 3333 environ, wraps the bridge in `wsgiref.validate`
(so every call sequence is checked against PEP 3333 as well), pulls the
iterable and always closes it. Every adapter is closed at the end of its test.
"""

from __future__ import annotations

import asyncio
import io
import os
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from wsgiref.validate import validator

import pytest

from bridge import ASGIMiddleware, AsgiToWsgi, ClientDisconnected

TIMEOUT = 10
Message = dict[str, Any]
CT = [(b"content-type", b"text/plain")]  # wsgiref.validate insists on one


@dataclass
class Result:
    status: str = ""
    headers: list[tuple[str, str]] = field(default_factory=list)
    chunks: list[bytes] = field(default_factory=list)
    exc_info: Any = None

    @property
    def body(self) -> bytes:
        return b"".join(self.chunks)


def environ_for(
    method: str = "GET", path: str = "/", body: bytes | None = None, **extra: Any
) -> dict[str, Any]:
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "REMOTE_PORT": "40000",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body or b""),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    if body is not None:
        environ["CONTENT_LENGTH"] = str(len(body))
    environ.update(extra)
    return environ


def run(
    app: Any,
    environ: dict[str, Any] | None = None,
    *,
    stop_after: int | None = None,
    validate: bool = True,
) -> Result:
    """Call a WSGI app like a server: validate, iterate (maybe stop early), close."""
    result = Result()

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        result.status, result.headers, result.exc_info = status, headers, exc_info
        return lambda data: None

    wsgi_app = validator(app) if validate else app
    iterable = wsgi_app(environ or environ_for(), start_response)
    try:
        for chunk in iterable:
            result.chunks.append(chunk)
            if stop_after is not None and len(result.chunks) >= stop_after:
                break
    finally:
        close = getattr(iterable, "close", None)
        if close is not None:
            close()
    return result


async def read_body(receive: Any) -> tuple[bytes, list[Message]]:
    messages = []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request" or not message.get("more_body"):
            return b"".join(m.get("body", b"") for m in messages), messages


async def respond(send: Any, body: bytes = b"ok", status: int = 200) -> None:
    await send({"type": "http.response.start", "status": status, "headers": CT})
    await send({"type": "http.response.body", "body": body})


def test_alias_and_no_thread_before_the_first_request(
    make_adapter: Callable[..., AsgiToWsgi],
) -> None:
    """B6.8: nothing starts in __init__."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            await respond(send)

    assert ASGIMiddleware is AsgiToWsgi
    before = {t.ident for t in threading.enumerate()}
    adapter = make_adapter(app)
    assert {t.ident for t in threading.enumerate()} == before
    assert run(adapter).body == b"ok"
    assert any(t.name == "bridge-asgi-loop" for t in threading.enumerate())


def test_scope_carries_environ_state_copies_and_extensions(
    make_adapter: Callable[..., AsgiToWsgi],
) -> None:
    """B1.10, B6.6."""
    shared: list[Any] = []
    scopes: list[dict[str, Any]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await receive()
            scope["state"]["shared"] = shared
            await send({"type": "lifespan.startup.complete"})
            await receive()
            await send({"type": "lifespan.shutdown.complete"})
            return
        scopes.append(scope)
        assert "leak" not in scope["state"]
        scope["state"]["leak"] = True
        await respond(send)

    adapter = make_adapter(app)
    environ = environ_for(HTTPS="on", **{"wsgi.url_scheme": "https"})
    run(adapter, environ)
    run(adapter)
    first, second = scopes
    assert first["wsgi_environ"] is environ
    assert first is not second and first["state"] is not second["state"]
    assert first["state"]["shared"] is shared and second["state"]["shared"] is shared
    assert "http.response.pathsend" in first["extensions"]
    assert not {"http.response.trailers", "http.response.early_hint", "http.response.push"} & set(
        first["extensions"]
    )
    assert "tls" in first["extensions"] and "tls" not in second["extensions"]


def test_bodies_arrive_whole_in_bounded_chunks(make_adapter: Callable[..., AsgiToWsgi]) -> None:
    """B2.1-B2.3: Content-Length, input_terminated and chunked bodies; chunk_size bound."""
    seen: list[tuple[bytes, list[Message]]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            seen.append(await read_body(receive))
            await respond(send)

    adapter = make_adapter(app, chunk_size=1000)
    payload = os.urandom(10_500)
    run(adapter, environ_for("POST", body=payload))
    run(
        adapter,
        environ_for("POST", **{"wsgi.input": io.BytesIO(payload), "wsgi.input_terminated": True}),
    )
    run(
        adapter,
        environ_for(
            "POST", HTTP_TRANSFER_ENCODING="chunked", **{"wsgi.input": io.BytesIO(payload)}
        ),
    )
    run(adapter, environ_for("POST", **{"wsgi.input": io.BytesIO(payload)}))  # no length: no body
    for body, messages in seen[:3]:
        assert body == payload
        assert all(type(m["body"]) is bytes and type(m["more_body"]) is bool for m in messages)
        assert max(len(m["body"]) for m in messages) <= 1000
    assert seen[3][0] == b""


def test_reads_are_lazy_and_happen_on_the_wsgi_thread(
    make_adapter: Callable[..., AsgiToWsgi],
) -> None:
    """B2.3."""
    read_threads: list[int] = []

    class Input(io.BytesIO):
        def read(self, size: int | None = -1) -> bytes:
            read_threads.append(threading.get_ident())
            return super().read(size)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            if scope["path"] == "/read":
                await read_body(receive)
            await respond(send)

    adapter = make_adapter(app)
    run(adapter, environ_for("POST", "/ignore", b"abc", **{"wsgi.input": Input(b"abc")}))
    assert read_threads == []
    caller = threading.get_ident()
    run(adapter, environ_for("POST", "/read", b"abc", **{"wsgi.input": Input(b"abc")}))
    assert read_threads and set(read_threads) == {caller}


@pytest.mark.parametrize("length", ["abc", "-1", "1.5"])
def test_bad_content_length_is_400_and_the_app_is_not_called(
    make_adapter: Callable[..., AsgiToWsgi], length: str
) -> None:
    """B2.2."""
    calls = 0

    async def app(scope: Any, receive: Any, send: Any) -> None:
        nonlocal calls
        if scope["type"] == "http":
            calls += 1
            await respond(send)

    # wsgiref.validate itself refuses such an environ, so this one call goes unvalidated.
    environ = environ_for("POST", CONTENT_LENGTH=length)
    result = run(make_adapter(app), environ, validate=False)
    assert result.status.startswith("400 ") and calls == 0


def test_short_or_failing_input_is_a_disconnect_never_a_spin(
    make_adapter: Callable[..., AsgiToWsgi],
) -> None:
    """B2.4."""
    outcomes: list[list[str]] = []

    class Broken(io.BytesIO):
        def read(self, size: int | None = -1) -> bytes:
            raise OSError("connection reset")

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            kinds = []
            for _ in range(50):
                message = await receive()
                kinds.append(message["type"])
                if message["type"] == "http.disconnect" or not message.get("more_body"):
                    break
            outcomes.append(kinds)
            await respond(send)

    adapter = make_adapter(app)
    run(adapter, environ_for("POST", CONTENT_LENGTH="100", **{"wsgi.input": io.BytesIO(b"x" * 10)}))
    run(adapter, environ_for("POST", CONTENT_LENGTH="5", **{"wsgi.input": Broken()}))
    assert outcomes == [["http.request", "http.disconnect"], ["http.disconnect"]]


SEND_VIOLATIONS: dict[str, list[Message]] = {
    "body before start": [{"type": "http.response.body", "body": b"x"}],
    "unknown type": [{"type": "http.response.mystery"}],
    "status as str": [{"type": "http.response.start", "status": "200"}],
    "status as bool": [{"type": "http.response.start", "status": True}],
    "1xx status": [{"type": "http.response.start", "status": 103}],
    "str header": [{"type": "http.response.start", "status": 200, "headers": [("a", "b")]}],
    "crlf header": [
        {"type": "http.response.start", "status": 200, "headers": [(b"a", b"b\r\nc: d")]}
    ],
    "pseudo header": [{"type": "http.response.start", "status": 200, "headers": [(b":a", b"b")]}],
    "str body": [
        {"type": "http.response.start", "status": 200, "headers": CT},
        {"type": "http.response.body", "body": "text"},
    ],
    "second start": [
        {"type": "http.response.start", "status": 200, "headers": CT},
        {"type": "http.response.start", "status": 200, "headers": CT},
    ],
}


@pytest.mark.parametrize("case", sorted(SEND_VIOLATIONS))
def test_send_violations_raise_inside_the_app(
    make_adapter: Callable[..., AsgiToWsgi], case: str
) -> None:
    """B3.1-B3.5: the error is raised by `send`, in the app, where it can be seen."""
    raised: list[type[BaseException]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        messages = SEND_VIOLATIONS[case]
        for message in messages[:-1]:
            await send(message)
        try:
            await send(messages[-1])
        except (TypeError, ValueError, RuntimeError) as exc:
            raised.append(type(exc))
        if len(messages) == 1:
            await send({"type": "http.response.start", "status": 200, "headers": CT})
        await send({"type": "http.response.body", "body": b"recovered"})

    result = run(make_adapter(app))
    assert len(raised) == 1
    assert result.body == b"recovered"


def test_status_phrases_latin1_headers_and_hop_by_hop(
    make_adapter: Callable[..., AsgiToWsgi],
) -> None:
    """B4.1, B4.2, B3.4 (missing headers), B3.7 (after the end: ignored)."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        status = int(scope["path"][1:])
        headers = [*CT, (b"x-caf", b"caf\xe9"), (b"connection", b"close")]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": b"a"})
        await send({"type": "http.response.body", "body": b"ignored"})

    adapter = make_adapter(app)
    result = run(adapter, environ_for(path="/404"))
    assert result.status == "404 Not Found"
    assert ("x-caf", "café") in result.headers
    assert all(name != "connection" for name, _ in result.headers)
    assert result.body == b"a"
    assert run(adapter, environ_for(path="/599")).status == "599 Unknown"


def test_streaming_chunks_arrive_one_by_one_with_backpressure(
    make_adapter: Callable[..., AsgiToWsgi],
) -> None:
    """B3.6, B4.4: each body is its own chunk; send returns only once the server took it."""
    returned = 0
    lead: list[int] = []
    pulled = 0

    async def app(scope: Any, receive: Any, send: Any) -> None:
        nonlocal returned
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": CT})
        for i in range(20):
            await send({"type": "http.response.body", "body": b"%d;" % i, "more_body": True})
            returned += 1
        await send({"type": "http.response.body", "body": b"end"})

    adapter = make_adapter(app)
    environ = environ_for()
    status: list[str] = []
    iterable = adapter(environ, lambda s, h, e=None: status.append(s))
    try:
        for chunk in iterable:
            pulled += 1
            lead.append(returned - pulled)
            assert chunk
    finally:
        iterable.close()  # type: ignore[attr-defined]
    assert status == ["200 OK"] and pulled == 21
    assert max(lead) <= 1


def test_server_closing_early_disconnects_and_cancels_the_app(
    make_adapter: Callable[..., AsgiToWsgi],
) -> None:
    """B3.8, B4.7, B2.5: later sends raise ClientDisconnected, receive says disconnect."""
    seen: list[str] = []
    done = threading.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        try:
            await send({"type": "http.response.start", "status": 200, "headers": CT})
            await send({"type": "http.response.body", "body": b"first", "more_body": True})
            try:
                while True:
                    await send({"type": "http.response.body", "body": b"more", "more_body": True})
            except ClientDisconnected:
                seen.append("send raised")
            seen.append((await receive())["type"])
            await asyncio.sleep(3600)  # an app that ignores the disconnect is cancelled
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise
        finally:
            done.set()

    adapter = make_adapter(app)
    result = run(adapter, stop_after=2)
    assert result.chunks == [b"first", b"more"]
    assert done.wait(TIMEOUT)
    assert seen == ["send raised", "http.disconnect", "cancelled"]


def test_failures_become_500_or_abort(make_adapter: Callable[..., AsgiToWsgi]) -> None:
    """B4.3, B4.5, B4.6: before any body -> 500 with exc_info; after -> raised; silent -> 500."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        if scope["path"] == "/silent":
            return
        if scope["path"] == "/start-only":
            await send({"type": "http.response.start", "status": 202, "headers": CT})
            return
        await send({"type": "http.response.start", "status": 200, "headers": CT})
        if scope["path"] == "/late":
            await send({"type": "http.response.body", "body": b"partial", "more_body": True})
        raise RuntimeError("app failed")

    adapter = make_adapter(app)
    early = run(adapter, environ_for(path="/early"))
    assert early.status.startswith("500 ") and early.exc_info is not None
    assert early.exc_info[0] is RuntimeError
    with pytest.raises(RuntimeError, match="app failed"):
        run(adapter, environ_for(path="/late"))
    assert run(adapter, environ_for(path="/silent")).status.startswith("500 ")
    started = run(adapter, environ_for(path="/start-only"))
    assert started.status == "202 Accepted" and started.body == b""


def test_pathsend_uses_the_servers_file_wrapper(
    make_adapter: Callable[..., AsgiToWsgi], tmp_path: Path
) -> None:
    """B5 pathsend: file_wrapper when offered, blocks otherwise, 500 for a missing file."""
    data = os.urandom(200_000)
    (tmp_path / "f.bin").write_bytes(data)
    wrapped: list[Any] = []

    class Wrapper:
        def __init__(self, filelike: Any, blksize: int = 8192) -> None:
            wrapped.append(filelike)
            self.filelike = filelike

        def __iter__(self) -> Iterator[bytes]:
            return iter(lambda: self.filelike.read(65536), b"")

        def close(self) -> None:
            self.filelike.close()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": CT})
        await send({"type": "http.response.pathsend", "path": str(tmp_path / scope["path"][1:])})

    adapter = make_adapter(app)
    assert run(adapter, environ_for(path="/f.bin")).body == data
    assert run(adapter, environ_for(path="/f.bin", **{"wsgi.file_wrapper": Wrapper})).body == data
    assert len(wrapped) == 1 and wrapped[0].closed
    assert run(adapter, environ_for(path="/missing")).status.startswith("500 ")


def test_starlette_streaming_response_and_request_body(
    make_adapter: Callable[..., AsgiToWsgi],
) -> None:
    """B2.5 in a real framework: StreamingResponse listens for disconnect while streaming."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse, StreamingResponse
    from starlette.routing import Route

    async def numbers() -> Any:
        for i in range(5):
            yield f"{i}\n"

    async def stream(request: Request) -> StreamingResponse:
        return StreamingResponse(numbers(), media_type="text/plain")

    async def echo(request: Request) -> PlainTextResponse:
        return PlainTextResponse(str(len(await request.body())))

    app = Starlette(routes=[Route("/stream", stream), Route("/echo", echo, methods=["POST"])])
    adapter = make_adapter(app)
    assert run(adapter, environ_for(path="/stream")).body == b"0\n1\n2\n3\n4\n"
    assert run(adapter, environ_for("POST", "/echo", b"x" * 100_000)).body == b"100000"


def test_asgi2_double_callable_apps_are_accepted(make_adapter: Callable[..., AsgiToWsgi]) -> None:
    class Asgi2:
        def __init__(self, scope: Any) -> None:
            self.scope = scope

        async def __call__(self, receive: Any, send: Any) -> None:
            if self.scope["type"] == "http":
                await respond(send, b"asgi2")

    assert run(make_adapter(Asgi2)).body == b"asgi2"


def test_concurrent_requests_share_one_loop(make_adapter: Callable[..., AsgiToWsgi]) -> None:
    """Eight WSGI threads at once: their app calls all meet on the one loop."""
    arrived = 0
    everyone: asyncio.Event | None = None
    loops: set[int] = set()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        nonlocal arrived, everyone
        if scope["type"] != "http":
            return
        if everyone is None:
            everyone = asyncio.Event()
        loops.add(id(asyncio.get_running_loop()))
        arrived += 1
        if arrived == 8:
            everyone.set()
        await asyncio.wait_for(everyone.wait(), TIMEOUT)
        await respond(send, scope["path"].encode())

    adapter = make_adapter(app)
    results: dict[int, bytes] = {}

    def worker(number: int) -> None:
        results[number] = run(adapter, environ_for(path=f"/{number}")).body

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT)
    assert results == {n: f"/{n}".encode() for n in range(8)}
    assert len(loops) == 1


def test_a_loop_passed_in_is_used_and_never_stopped_or_closed() -> None:
    """Issue 3 item 2: `loop=` (a2wsgi's meaning)."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    used: list[asyncio.AbstractEventLoop] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            used.append(asyncio.get_running_loop())
            await respond(send)

    try:
        with AsgiToWsgi(app, loop=loop) as adapter:
            assert run(adapter).body == b"ok"
        assert used == [loop]
        assert loop.is_running() and not loop.is_closed()
        assert not [t for t in threading.enumerate() if t.name == "bridge-asgi-loop"]
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(TIMEOUT)
        loop.close()


def test_wait_time_bounds_how_long_a_finished_response_holds_the_worker(
    make_adapter: Callable[..., AsgiToWsgi],
) -> None:
    """Issue 3 item 6: after the final body, close() waits up to wait_time, then cancels."""
    background_done = threading.Event()
    cancelled = threading.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await respond(send)
        try:
            if scope["path"] == "/quick":
                await asyncio.sleep(0.01)  # short background work after the response
                background_done.set()
            else:
                await asyncio.sleep(3600)  # work that outlives wait_time
        except asyncio.CancelledError:
            cancelled.set()
            raise

    adapter = make_adapter(app, wait_time=5)
    run(adapter, environ_for(path="/quick"))
    assert background_done.is_set()  # close() returned only after the app did
    adapter = make_adapter(app, wait_time=0.05)
    run(adapter, environ_for(path="/slow"))
    assert cancelled.wait(TIMEOUT)


def test_by_default_close_returns_once_background_work_finished(
    make_adapter: Callable[..., AsgiToWsgi],
) -> None:
    """B4.8 (revised, issue 13): wait_time=None waits for the app, as a2wsgi's None did.

    The body is delivered first; the background work (in an executor, so it
    is not on the loop) is released only after that, and close() returns after
    it. Until issue 13 this test said the opposite: the worker returned at once.
    """
    release = threading.Event()
    finished = threading.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await respond(send)
        await asyncio.get_running_loop().run_in_executor(None, release.wait, TIMEOUT)
        finished.set()

    statuses: list[str] = []
    iterable = make_adapter(app)(
        environ_for(), lambda status, headers, exc_info=None: statuses.append(status)
    )
    assert b"".join(iterable) == b"ok" and statuses == ["200 OK"]
    assert not finished.is_set()  # the background work is still held by `release`
    closer = threading.Thread(target=iterable.close)  # type: ignore[attr-defined]
    closer.start()
    closer.join(0.2)
    assert closer.is_alive()  # close() is waiting for the app
    release.set()
    closer.join(TIMEOUT)
    assert not closer.is_alive()
    assert finished.is_set()  # close() returned only after the app did
