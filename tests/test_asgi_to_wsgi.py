"""AsgiToWsgi in process: small hand-written ASGI apps behind the WSGI driver.

Checklist section B (B1.10, B2, B3, B4, B5, B6.8). Every request goes through
``tests/wsgi_driver.call_wsgi`` (wrapped in ``wsgiref.validate`` unless a test
needs an environ the validator refuses), every wait is bounded, and every
adapter is closed at the end of its test by the ``make_adapter`` fixture, which
also checks that no ``bridge-asgi-loop`` thread is left behind.
"""

from __future__ import annotations

import asyncio
import io
import logging
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import LOOP_THREAD, loop_threads
from forked import in_fork
from starlette.requests import Request
from starlette.responses import Response
from wsgi_driver import build_environ, call_wsgi

import bridge
from bridge import AsgiToWsgi, ClientDisconnected

pytestmark = pytest.mark.timeout(30)

TIMEOUT = 10.0
CT = [(b"content-type", b"text/plain")]  # wsgiref.validate insists on a Content-Type
Message = dict[str, Any]
Scope = dict[str, Any]


# -- helpers -------------------------------------------------------------------


async def respond(send: Any, body: bytes = b"ok", status: int = 200, headers: Any = None) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": CT if headers is None else headers,
        }
    )
    await send({"type": "http.response.body", "body": body})


async def respond_ok(scope: Scope, receive: Any, send: Any) -> None:
    await respond(send)


async def read_body(receive: Any) -> tuple[bytes, list[Message]]:
    """Receive until the last ``http.request`` (or a disconnect)."""
    messages: list[Message] = []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request" or not message["more_body"]:
            body = b"".join(m.get("body", b"") for m in messages)
            return body, messages


def with_lifespan(
    http: Callable[[Scope, Any, Any], Any],
    startup: Callable[[dict[str, Any]], None] | None = None,
) -> Callable[[Scope, Any, Any], Any]:
    """An ASGI app that supports lifespan (running ``startup(state)``) and serves ``http``."""

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    if startup is not None:
                        startup(scope["state"])
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        await http(scope, receive, send)

    return app


def http_only(http: Callable[[Scope, Any, Any], Any]) -> Callable[[Scope, Any, Any], Any]:
    """An ASGI app without lifespan support (it returns at once on a lifespan scope)."""

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await http(scope, receive, send)

    return app


def settle(loop: asyncio.AbstractEventLoop) -> None:
    """Let ``loop`` run many iterations (no sleeping): what could run, has run."""

    async def spin() -> None:
        for _ in range(50):
            await asyncio.sleep(0)

    asyncio.run_coroutine_threadsafe(spin(), loop).result(TIMEOUT)


class RecordingInput(io.BytesIO):
    """A ``wsgi.input`` that records each ``read()``: its size and the calling thread."""

    def __init__(self, data: bytes = b"") -> None:
        super().__init__(data)
        self.reads: list[tuple[int | None, int]] = []

    def read(self, size: int | None = -1) -> bytes:
        self.reads.append((size, threading.get_ident()))
        return super().read(size)


class FailingInput(io.RawIOBase):
    """A ``wsgi.input`` whose reads fail, like a socket reset mid-upload."""

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        raise ConnectionResetError("client went away")


# -- API surface and threads -----------------------------------------------------


def test_asgimiddleware_is_an_alias() -> None:
    assert bridge.ASGIMiddleware is bridge.AsgiToWsgi


def test_construction_starts_no_thread(make_adapter: Callable[..., AsgiToWsgi]) -> None:
    """B6.8: no thread in __init__; the loop thread appears with the first request."""
    before_count = threading.active_count()
    before = loop_threads()
    adapter = make_adapter(http_only(respond_ok))
    assert threading.active_count() == before_count
    assert loop_threads() == before
    result = call_wsgi(adapter)
    assert result.body == b"ok"
    assert len(loop_threads() - before) == 1


def test_asgi2_double_callable_app(make_adapter: Callable[..., AsgiToWsgi]) -> None:
    class Asgi2App:
        def __init__(self, scope: Scope) -> None:
            self.scope = scope

        async def __call__(self, receive: Any, send: Any) -> None:
            if self.scope["type"] != "http":
                return
            await respond(send, b"asgi2 " + self.scope["path"].encode())

    result = call_wsgi(make_adapter(Asgi2App), path="/two")
    assert result.status == "200 OK"
    assert result.body == b"asgi2 /two"


# -- B1.10: the scope ----------------------------------------------------------------


def test_scope_is_new_per_request_and_carries_the_environ(
    make_adapter: Callable[..., AsgiToWsgi],
) -> None:
    scopes: list[Scope] = []

    async def http(scope: Scope, receive: Any, send: Any) -> None:
        scopes.append(scope)
        await respond(send)

    adapter = make_adapter(http_only(http))
    first = call_wsgi(adapter, path="/one")
    second = call_wsgi(adapter, path="/two")
    assert scopes[0]["wsgi_environ"] is first.environ
    assert scopes[1]["wsgi_environ"] is second.environ
    assert scopes[0] is not scopes[1]
    assert scopes[0]["path"] == "/one" and scopes[1]["path"] == "/two"


def test_state_is_a_shallow_copy_per_request(make_adapter: Callable[..., AsgiToWsgi]) -> None:
    """B1.10 / B6.6."""
    shared: list[int] = []
    seen: list[dict[str, Any]] = []

    def startup(state: dict[str, Any]) -> None:
        state["shared"] = shared
        state["name"] = "from startup"

    async def http(scope: Scope, receive: Any, send: Any) -> None:
        state = scope["state"]
        seen.append(dict(state))
        state["added_by_request"] = len(seen)
        state["shared"].append(len(seen))
        await respond(send)

    adapter = make_adapter(with_lifespan(http, startup))
    for _ in range(3):
        assert call_wsgi(adapter).status == "200 OK"
    assert len(seen) == 3
    for state in seen:
        assert "added_by_request" not in state
        assert state["shared"] is shared
        assert state["name"] == "from startup"
    assert shared == [1, 2, 3]


def test_no_state_without_lifespan_support(make_adapter: Callable[..., AsgiToWsgi]) -> None:
    scopes: list[Scope] = []

    async def http(scope: Scope, receive: Any, send: Any) -> None:
        scopes.append(scope)
        await respond(send)

    call_wsgi(make_adapter(http_only(http)))
    assert len(scopes) == 1
    assert "state" not in scopes[0]


def test_extensions_advertise_pathsend_only(make_adapter: Callable[..., AsgiToWsgi]) -> None:
    scopes: list[Scope] = []

    async def http(scope: Scope, receive: Any, send: Any) -> None:
        scopes.append(scope)
        await respond(send)

    adapter = make_adapter(http_only(http))
    call_wsgi(adapter)
    call_wsgi(adapter, environ_overrides={"HTTPS": "on", "wsgi.url_scheme": "https"})
    plain, tls = scopes
    for scope in scopes:
        extensions = scope["extensions"]
        assert extensions["http.response.pathsend"] == {}
        for missing in (
            "http.response.trailers",
            "http.response.early_hint",
            "http.response.push",
            "http.response.debug",
        ):
            assert missing not in extensions
    assert "tls" not in plain["extensions"]
    assert "tls" in tls["extensions"]
    assert isinstance(tls["extensions"]["tls"]["client_cert_chain"], list)
    # Extensions are per request: a mutation does not leak into the next scope.
    assert plain["extensions"] is not tls["extensions"]


# -- B2: receive() ---------------------------------------------------------------------


def _body_recorder() -> tuple[list[tuple[bytes, list[Message]]], Callable[..., Any]]:
    seen: list[tuple[bytes, list[Message]]] = []

    async def http(scope: Scope, receive: Any, send: Any) -> None:
        seen.append(await read_body(receive))
        await respond(send)

    return seen, http_only(http)


def _check_messages(messages: list[Message]) -> None:
    for message in messages:
        assert message["type"] == "http.request"
        assert type(message["body"]) is bytes
        assert type(message["more_body"]) is bool
    assert messages[-1]["more_body"] is False
    assert all(m["more_body"] for m in messages[:-1])


def test_content_length_body_arrives_whole(make_adapter: Callable[..., AsgiToWsgi]) -> None:
    seen, app = _body_recorder()
    payload = b"hello, world\n" * 100
    result = call_wsgi(make_adapter(app), "POST", body=payload)
    assert result.status == "200 OK"
    body, messages = seen[0]
    assert body == payload
    _check_messages(messages)


def test_trickling_input_arrives_whole(make_adapter: Callable[..., AsgiToWsgi]) -> None:
    """A wsgi.input whose read(n) returns fewer than n bytes is not a short body."""
    seen, app = _body_recorder()
    payload = bytes(range(256)) * 10
    call_wsgi(make_adapter(app), "POST", body=payload, read_size=7)
    body, messages = seen[0]
    assert body == payload
    _check_messages(messages)


def test_large_body_arrives_in_bounded_chunks(make_adapter: Callable[..., AsgiToWsgi]) -> None:
    seen, app = _body_recorder()
    payload = os.urandom(1024 * 1024)
    call_wsgi(make_adapter(app), "POST", body=payload)
    body, messages = seen[0]
    assert body == payload
    _check_messages(messages)
    # The default read size, 256 KiB: each read costs a thread <-> loop round trip.
    assert max(len(m["body"]) for m in messages) <= 256 * 1024
    assert len(messages) >= 4


def test_custom_chunk_size_bounds_each_message(make_adapter: Callable[..., AsgiToWsgi]) -> None:
    seen, app = _body_recorder()
    payload = os.urandom(10_001)
    call_wsgi(make_adapter(app, chunk_size=1000), "POST", body=payload)
    body, messages = seen[0]
    assert body == payload
    assert max(len(m["body"]) for m in messages) <= 1000
    assert len(messages) >= 11


def test_input_terminated_without_length_reads_to_eof(
    make_adapter: Callable[..., AsgiToWsgi],
) -> None:
    seen, app = _body_recorder()
    payload = os.urandom(200_000)
    result = call_wsgi(
        make_adapter(app),
        "POST",
        input_stream=io.BytesIO(payload),
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert "CONTENT_LENGTH" not in result.environ
    body, messages = seen[0]
    assert body == payload
    _check_messages(messages)


def test_chunked_transfer_encoding_reads_to_eof(make_adapter: Callable[..., AsgiToWsgi]) -> None:
    seen, app = _body_recorder()
    payload = os.urandom(70_000)
    call_wsgi(
        make_adapter(app),
        "POST",
        input_stream=io.BytesIO(payload),
        headers={"Transfer-Encoding": "chunked"},
    )
    body, messages = seen[0]
    assert body == payload
    _check_messages(messages)


def test_no_length_and_no_eof_flag_means_no_body(make_adapter: Callable[..., AsgiToWsgi]) -> None:
    seen, app = _body_recorder()
    stream = RecordingInput(b"must not be read")
    call_wsgi(make_adapter(app), "POST", input_stream=stream)
    body, messages = seen[0]
    assert body == b""
    assert messages == [{"type": "http.request", "body": b"", "more_body": False}]
    assert stream.reads == []


@pytest.mark.parametrize("bad", ["abc", "-1", "1e3"])
def test_bad_content_length_is_400_and_app_not_called(
    make_adapter: Callable[..., AsgiToWsgi], bad: str
) -> None:
    calls: list[Scope] = []

    async def http(scope: Scope, receive: Any, send: Any) -> None:
        calls.append(scope)
        await respond(send)

    result = call_wsgi(
        make_adapter(http_only(http)),
        "POST",
        input_stream=io.BytesIO(b"xyz"),
        environ_overrides={"CONTENT_LENGTH": bad},
        validate=False,  # the validator itself refuses such a CONTENT_LENGTH
    )
    assert result.status is not None and result.status.startswith("400 ")
    assert calls == []


def test_short_input_becomes_disconnect_not_a_spin(
    make_adapter: Callable[..., AsgiToWsgi],
) -> None:
    """B2.4: CONTENT_LENGTH 100 but only 10 bytes."""
    messages: list[Message] = []

    async def http(scope: Scope, receive: Any, send: Any) -> None:
        for _ in range(50):  # bounded: a spinning bridge would use all 50
            message = await receive()
            messages.append(message)
            if message["type"] == "http.disconnect" or not message.get("more_body"):
                break
        await respond(send)

    call_wsgi(
        make_adapter(http_only(http)),
        "POST",
        input_stream=io.BytesIO(b"x" * 10),
        environ_overrides={"CONTENT_LENGTH": "100"},
    )
    assert messages[-1] == {"type": "http.disconnect"}
    assert len(messages) <= 3
    received = b"".join(m.get("body", b"") for m in messages)
    assert received == b"x" * len(received)
    assert all(m.get("more_body", True) for m in messages)  # never a "complete" body


def test_failing_input_becomes_disconnect(make_adapter: Callable[..., AsgiToWsgi]) -> None:
    messages: list[Message] = []

    async def http(scope: Scope, receive: Any, send: Any) -> None:
        messages.append(await receive())
        await respond(send)

    result = call_wsgi(
        make_adapter(http_only(http)),
        "POST",
        input_stream=FailingInput(),
        environ_overrides={"CONTENT_LENGTH": "10"},
    )
    assert messages == [{"type": "http.disconnect"}]
    assert result.status == "200 OK"


def test_input_is_not_read_unless_the_app_receives(
    make_adapter: Callable[..., AsgiToWsgi],
) -> None:
    stream = RecordingInput(b"payload")
    result = call_wsgi(
        make_adapter(http_only(respond_ok)),
        "POST",
        input_stream=stream,
        environ_overrides={"CONTENT_LENGTH": "7"},
    )
    assert result.body == b"ok"
    assert stream.reads == []


def test_input_is_read_on_the_wsgi_thread(make_adapter: Callable[..., AsgiToWsgi]) -> None:
    app_threads: list[int] = []

    async def http(scope: Scope, receive: Any, send: Any) -> None:
        app_threads.append(threading.get_ident())
        body, _ = await read_body(receive)
        await respond(send, body)

    stream = RecordingInput(b"a" * 5000)
    result = call_wsgi(
        make_adapter(http_only(http), chunk_size=1024),
        "POST",
        input_stream=stream,
        environ_overrides={"CONTENT_LENGTH": "5000"},
    )
    assert result.body == b"a" * 5000
    assert len(stream.reads) >= 5
    caller = threading.get_ident()
    assert {thread for _, thread in stream.reads} == {caller}
    assert app_threads and app_threads[0] != caller
    assert all(size is not None and 0 < size <= 1024 for size, _ in stream.reads)


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_receive_after_the_body_waits_for_the_response_end(
    make_adapter: Callable[..., AsgiToWsgi], method: str
) -> None:
    """B2.5, the pattern of Starlette's StreamingResponse (listen_for_disconnect)."""
    heard: list[tuple[str, bool]] = []
    done = threading.Event()

    async def http(scope: Scope, receive: Any, send: Any) -> None:
        body, _ = await read_body(receive)
        final_sent = False

        async def listen() -> None:
            for _ in range(2):  # the disconnect, then every later call too
                message = await receive()
                heard.append((message["type"], final_sent))
            done.set()

        listener = asyncio.ensure_future(listen())
        await send({"type": "http.response.start", "status": 200, "headers": CT})
        for part in (b"a", b"b", body or b"c"):
            await send({"type": "http.response.body", "body": part, "more_body": True})
        final_sent = True
        await send({"type": "http.response.body", "body": b"!"})
        await asyncio.wait_for(listener, TIMEOUT)

    body = b"x" if method == "POST" else b""
    result = call_wsgi(make_adapter(http_only(http)), method, body=body)
    assert result.body == b"ab" + (body or b"c") + b"!"
    assert done.wait(TIMEOUT)
    assert heard == [("http.disconnect", True), ("http.disconnect", True)]


def test_starlette_streaming_response(make_adapter: Callable[..., AsgiToWsgi]) -> None:
    from starlette.applications import Starlette
    from starlette.responses import StreamingResponse
    from starlette.routing import Route

    async def stream(request: Request) -> StreamingResponse:
        async def parts() -> Any:
            for i in range(3):
                yield f"part{i};".encode()

        return StreamingResponse(parts(), media_type="text/plain")

    starlette_app = Starlette(routes=[Route("/stream", stream)])

    async def old_spec(scope: Scope, receive: Any, send: Any) -> None:
        """Claim ASGI spec 2.0, so StreamingResponse also listens for a disconnect."""
        if scope["type"] == "http":
            scope = {**scope, "asgi": {**scope["asgi"], "spec_version": "2.0"}}
        await starlette_app(scope, receive, send)

    for app in (starlette_app, old_spec):
        result = call_wsgi(make_adapter(app), path="/stream")
        assert result.status == "200 OK"
        assert result.chunks == [b"part0;", b"part1;", b"part2;"]


def test_starlette_and_fastapi_request_body_and_stream(
    make_adapter: Callable[..., AsgiToWsgi],
) -> None:
    from fastapi import FastAPI
    from starlette.applications import Starlette
    from starlette.routing import Route

    async def body(request: Request) -> Response:
        return Response(await request.body(), media_type="application/octet-stream")

    async def stream(request: Request) -> Response:
        parts = [chunk async for chunk in request.stream()]
        return Response(b"".join(parts), media_type="application/octet-stream")

    starlette_app = Starlette(
        routes=[Route("/body", body, methods=["POST"]), Route("/stream", stream, methods=["POST"])]
    )
    fastapi_app = FastAPI()
    fastapi_app.add_api_route("/body", body, methods=["POST"])
    fastapi_app.add_api_route("/stream", stream, methods=["POST"])

    payload = os.urandom(150_000)
    for app in (starlette_app, fastapi_app):
        adapter = make_adapter(app)
        for path in ("/body", "/stream"):
            result = call_wsgi(adapter, "POST", path, body=payload)
            assert result.status == "200 OK", (app, path)
            assert result.body == payload
        # Chunked upload without a length, and a bodiless GET-style POST.
        result = call_wsgi(
            adapter,
            "POST",
            "/stream",
            input_stream=io.BytesIO(payload),
            headers={"Transfer-Encoding": "chunked"},
        )
        assert result.body == payload
        assert call_wsgi(adapter, "POST", "/body").body == b""


# -- B3: validating send() -----------------------------------------------------------

START = {"type": "http.response.start", "status": 200, "headers": CT}

SEND_VIOLATIONS: list[Any] = [
    pytest.param([], {"type": "http.response.bogus"}, Exception, id="unknown-type"),
    pytest.param([], {"type": "http.response.body", "body": b"x"}, Exception, id="body-first"),
    pytest.param([START], START, Exception, id="second-start"),
    pytest.param([], {**START, "status": "200"}, Exception, id="status-str"),
    pytest.param([], {**START, "status": True}, Exception, id="status-bool"),
    pytest.param([], {**START, "status": 103}, Exception, id="status-1xx"),
    pytest.param([], {**START, "status": 600}, Exception, id="status-600"),
    pytest.param(
        [], {**START, "headers": [("content-type", "text/plain")]}, TypeError, id="str-headers"
    ),
    pytest.param([], {**START, "headers": [(b"x-a", "v")]}, TypeError, id="str-value"),
    pytest.param([], {**START, "headers": [*CT, (b"x-a", b"v\r\nx-b: 1")]}, ValueError, id="crlf"),
    pytest.param([], {**START, "headers": [*CT, (b"x-a", b"v\nx")]}, ValueError, id="lf"),
    pytest.param([], {**START, "headers": [*CT, (b"x-a", b"v\rx")]}, ValueError, id="cr"),
    pytest.param([], {**START, "headers": [*CT, (b"x-a", b"v\x00x")]}, ValueError, id="nul"),
    pytest.param([], {**START, "headers": [*CT, (b"x\r\na", b"v")]}, ValueError, id="crlf-name"),
    pytest.param([], {**START, "headers": [*CT, (b":status", b"200")]}, ValueError, id="pseudo"),
    pytest.param([START], {"type": "http.response.body", "body": "text"}, TypeError, id="str-body"),
]


@pytest.mark.parametrize(("before", "bad", "expected"), SEND_VIOLATIONS)
def test_send_violations_raise_inside_the_app(
    make_adapter: Callable[..., AsgiToWsgi],
    before: list[Message],
    bad: Message,
    expected: type[BaseException],
) -> None:
    """B3.2 (the body-first and second-start cases): the invalid send raises in the app."""
    raised: list[BaseException] = []

    async def http(scope: Scope, receive: Any, send: Any) -> None:
        for message in before:
            await send(message)
        try:
            await send(bad)
        except Exception as exc:
            raised.append(exc)
        if not before:
            await send({**START, "status": 201})
        await send({"type": "http.response.body", "body": b"fine"})

    result = call_wsgi(make_adapter(http_only(http)))
    assert len(raised) == 1, "the invalid message was accepted"
    assert isinstance(raised[0], expected)
    # The response is left as it was: the app's valid messages are what the client sees.
    assert result.status == ("201 Created" if not before else "200 OK")
    assert result.body == b"fine"
    assert result.header("content-type") == "text/plain"
    assert len(result.start_calls) == 1


def test_early_hint_never_corrupts_the_response(make_adapter: Callable[..., AsgiToWsgi]) -> None:
    async def http(scope: Scope, receive: Any, send: Any) -> None:
        try:
            await send({"type": "http.response.early_hint", "links": [b"</a.css>; rel=preload"]})
        except Exception:
            pass  # raising is allowed; corrupting the response is not
        await respond(send, b"body")

    result = call_wsgi(make_adapter(http_only(http)))
    assert (result.status, result.body, len(result.start_calls)) == ("200 OK", b"body", 1)


def test_missing_fields_take_their_defaults(make_adapter: Callable[..., AsgiToWsgi]) -> None:
    """B3.4/B3.5/B3.7: no headers -> [], no body -> b"", no more_body -> final; later ignored."""
    after_final: list[str] = []

    async def http(scope: Scope, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 204})
        await send({"type": "http.response.body", "more_body": True})
        await send({"type": "http.response.body"})
        for _ in range(2):
            await send({"type": "http.response.body", "body": b"ignored", "more_body": True})
            after_final.append("returned")

    result = call_wsgi(make_adapter(http_only(http)))
    assert result.status == "204 No Content"
    assert result.headers == []
    assert result.body == b""
    assert after_final == ["returned", "returned"]


def test_body_defaults_and_messages_after_the_final_body(
    make_adapter: Callable[..., AsgiToWsgi],
) -> None:
    returned = threading.Event()

    async def http(scope: Scope, receive: Any, send: Any) -> None:
        await send(START)
        await send({"type": "http.response.body", "body": b"a", "more_body": True})
        await send({"type": "http.response.body", "more_body": True})  # body b""
        await send({"type": "http.response.body", "body": b"b"})  # no more_body: final
        await send({"type": "http.response.body", "body": b"late", "more_body": True})
        await send({"type": "http.response.body", "body": b"later"})
        returned.set()

    result = call_wsgi(make_adapter(http_only(http)))
    assert result.body == b"ab"
    assert returned.wait(TIMEOUT)


def test_send_waits_until_the_server_took_the_chunk(
    make_adapter: Callable[..., AsgiToWsgi],
) -> None:
    """B3.6: the app is never more than one chunk ahead of the server."""
    loops: list[asyncio.AbstractEventLoop] = []
    returned: list[int] = []
    count = 6

    async def http(scope: Scope, receive: Any, send: Any) -> None:
        loops.append(asyncio.get_running_loop())
        await send(START)
        for i in range(count):
            await send({"type": "http.response.body", "body": b"%d" % i, "more_body": True})
            returned.append(i)
        await send({"type": "http.response.body", "body": b"end"})

    observed: list[tuple[int, int]] = []

    def on_chunk(index: int, chunk: bytes) -> None:
        settle(loops[0])  # give a runaway app every chance to get ahead
        observed.append((index + 1, len(returned)))

    result = call_wsgi(make_adapter(http_only(http)), on_chunk=on_chunk)
    assert result.chunks == [b"%d" % i for i in range(count)] + [b"end"]
    for pulled, sends_returned in observed:
        assert sends_returned <= pulled + 1, observed
    # and it did make progress as the server pulled
    assert observed[count - 1][1] >= count - 1


def test_every_app_call_runs_in_a_task_and_is_forgotten_when_done(
    make_adapter: Callable[..., AsgiToWsgi],
) -> None:
    """The app runs inside an asyncio Task (started eagerly on Python 3.12+).

    anyio's cancel scopes and ``asyncio.timeout`` need ``current_task()``; a
    request that finished, at once or after waiting, leaves no task behind.
    """
    tasks: list[asyncio.Task[Any] | None] = []

    async def http(scope: Scope, receive: Any, send: Any) -> None:
        tasks.append(asyncio.current_task())
        if scope["path"] == "/wait":
            await asyncio.sleep(0.01)  # suspends: the task goes on after the first step
        await respond(send)

    adapter = make_adapter(http_only(http))
    assert call_wsgi(adapter, path="/").body == b"ok"
    assert call_wsgi(adapter, path="/wait").body == b"ok"
    assert len(tasks) == 2 and all(task is not None for task in tasks)
    runtime = adapter._runtime
    assert runtime is not None
    # The app returns, and its task leaves the table, in the loop step that sent
    # the last body: any callback scheduled after the response runs later.
    asyncio.run_coroutine_threadsafe(asyncio.sleep(0), runtime.loop).result(TIMEOUT)
    assert runtime.tasks == {}


def test_a_server_waiting_for_the_next_chunk_takes_it_without_a_round_trip(
    make_adapter: Callable[..., AsgiToWsgi],
) -> None:
    """B3.6 at half the cost: a chunk sent while the server waits in next() is taken.

    Its ``send`` returns without waiting for the WSGI thread to run, so the app
    makes the next chunk meanwhile, and the thread wakes the loop about once per
    two chunks, not once per chunk (docs/performance.md).
    """
    count = 200

    async def http(scope: Scope, receive: Any, send: Any) -> None:
        await send(START)
        for i in range(count):
            await send({"type": "http.response.body", "body": b"%d," % i, "more_body": True})
        await send({"type": "http.response.body", "body": b"end"})

    adapter = make_adapter(http_only(http))
    assert call_wsgi(adapter).status == "200 OK"  # starts the loop thread
    runtime = adapter._runtime
    assert runtime is not None
    wakes = 0
    original = runtime.handle.call_soon_threadsafe

    def counting(*args: Any) -> Any:
        nonlocal wakes
        wakes += 1
        return original(*args)

    runtime.handle.call_soon_threadsafe = counting
    result = call_wsgi(adapter)
    assert result.body == b"".join(b"%d," % i for i in range(count)) + b"end"
    # One wake per chunk without the hand-over; slack for forced GIL switches.
    assert wakes < 0.8 * count, wakes


def test_send_raises_client_disconnected_after_early_close(
    make_adapter: Callable[..., AsgiToWsgi],
) -> None:
    """B3.8: OSError from send, and http.disconnect from receive."""
    errors: list[BaseException] = []
    received: list[Message] = []
    sent = []
    done = threading.Event()

    async def http(scope: Scope, receive: Any, send: Any) -> None:
        try:
            await send(START)
            for i in range(1000):
                await send({"type": "http.response.body", "body": b"%d," % i, "more_body": True})
                sent.append(i)
        except OSError as exc:
            errors.append(exc)
            received.append(await receive())
        finally:
            done.set()

    result = call_wsgi(make_adapter(http_only(http)), close_after=2)
    assert result.chunks == [b"0,", b"1,"]
    assert done.wait(TIMEOUT)
    assert len(errors) == 1
    assert isinstance(errors[0], ClientDisconnected)
    assert isinstance(errors[0], OSError)
    assert received == [{"type": "http.disconnect"}]
    assert len(sent) < 1000


# -- B4: start_response and the iterable ---------------------------------------------


@pytest.mark.parametrize(
    ("status", "line"),
    [
        (200, "200 OK"),
        (404, "404 Not Found"),
        (503, "503 Service Unavailable"),
        (599, "599 Unknown"),
    ],
)
def test_status_line(make_adapter: Callable[..., AsgiToWsgi], status: int, line: str) -> None:
    async def http(scope: Scope, receive: Any, send: Any) -> None:
        await respond(send, status=status)

    result = call_wsgi(make_adapter(http_only(http)))
    assert result.status == line


def test_header_bytes_are_latin1_and_hop_by_hop_dropped(
    make_adapter: Callable[..., AsgiToWsgi],
) -> None:
    headers = [
        (b"content-type", b"text/plain"),
        (b"x-name", b"caf\xe9"),
        (b"connection", b"close"),
        (b"transfer-encoding", b"chunked"),
        (b"keep-alive", b"timeout=5"),
        (b"set-cookie", b"a=1"),
        (b"set-cookie", b"b=2"),
    ]

    async def http(scope: Scope, receive: Any, send: Any) -> None:
        await respond(send, headers=headers)

    result = call_wsgi(make_adapter(http_only(http)))  # the validator refuses hop-by-hop
    assert result.status == "200 OK"
    assert result.header("x-name") == "café"
    names = [name.lower() for name, _ in result.headers]
    assert "connection" not in names
    assert "transfer-encoding" not in names
    assert "keep-alive" not in names
    assert [v for n, v in result.headers if n.lower() == "set-cookie"] == ["a=1", "b=2"]
    assert all(type(n) is str and type(v) is str for n, v in result.headers)


def test_start_response_waits_for_the_first_body(
    make_adapter: Callable[..., AsgiToWsgi],
) -> None:
    """B4.3: an error between start and the first body still becomes a clean 500."""

    async def http(scope: Scope, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": CT})
        raise RuntimeError("failed after start")

    result = call_wsgi(make_adapter(http_only(http)))
    assert [call.status[:3] for call in result.start_calls] == ["500"]
    assert result.exc_info_passed
    assert isinstance(result.start_calls[0].exc_info[1], RuntimeError)


def test_call_returns_after_the_first_body_with_start_response_done(
    make_adapter: Callable[..., AsgiToWsgi],
) -> None:
    """B4.9: __call__ returns once the first body was sent, start_response already called.

    The app then waits, so the call cannot have waited for the whole response:
    a middleware that reads the status right after calling the app sees it.
    """
    loops: list[asyncio.AbstractEventLoop] = []
    gate = asyncio.Event()
    finished = threading.Event()

    async def http(scope: Scope, receive: Any, send: Any) -> None:
        loops.append(asyncio.get_running_loop())
        await send({"type": "http.response.start", "status": 201, "headers": CT})
        await send({"type": "http.response.body", "body": b"first", "more_body": True})
        await asyncio.wait_for(gate.wait(), TIMEOUT)
        await send({"type": "http.response.body", "body": b"rest"})
        finished.set()

    adapter = make_adapter(http_only(http))
    statuses: list[str] = []
    iterable: Any = adapter(build_environ(), lambda status, headers, *exc: statuses.append(status))
    try:
        assert statuses == ["201 Created"]  # before the server has pulled a single chunk
        assert not finished.is_set()
        loops[0].call_soon_threadsafe(gate.set)
        assert list(iterable) == [b"first", b"rest"]
    finally:
        iterable.close()
    assert finished.wait(TIMEOUT)
    assert statuses == ["201 Created"]


def test_each_body_message_is_yielded_at_once(make_adapter: Callable[..., AsgiToWsgi]) -> None:
    """B4.4: the app sends chunk n+1 only after the driver got chunk n: no buffering."""
    loops: list[asyncio.AbstractEventLoop] = []
    pulled: list[asyncio.Event] = [asyncio.Event() for _ in range(4)]
    timeouts: list[int] = []

    async def http(scope: Scope, receive: Any, send: Any) -> None:
        loops.append(asyncio.get_running_loop())
        await send(START)
        for i, part in enumerate((b"a", b"b", b"c")):
            await send({"type": "http.response.body", "body": part, "more_body": True})
            try:
                await asyncio.wait_for(pulled[i].wait(), TIMEOUT)
            except asyncio.TimeoutError:
                timeouts.append(i)
        await send({"type": "http.response.body", "body": b"d"})

    def on_chunk(index: int, chunk: bytes) -> None:
        loops[0].call_soon_threadsafe(pulled[index].set)

    result = call_wsgi(make_adapter(http_only(http)), on_chunk=on_chunk)
    assert result.chunks == [b"a", b"b", b"c", b"d"]
    assert timeouts == []
    assert len(result.start_calls) == 1


def test_exception_before_the_body_is_a_500_with_exc_info(
    make_adapter: Callable[..., AsgiToWsgi],
) -> None:
    class Boom(Exception):
        pass

    async def http(scope: Scope, receive: Any, send: Any) -> None:
        raise Boom("before anything")

    result = call_wsgi(make_adapter(http_only(http)))
    assert result.status is not None and result.status.startswith("500 ")
    assert (result.header("content-type") or "").startswith("text/plain")
    assert result.exc_info_passed
    exc_info = result.start_calls[-1].exc_info
    assert exc_info[0] is Boom and isinstance(exc_info[1], Boom)


def test_exception_after_the_body_began_comes_out_of_the_iterator(
    make_adapter: Callable[..., AsgiToWsgi],
) -> None:
    class Boom(Exception):
        pass

    async def http(scope: Scope, receive: Any, send: Any) -> None:
        await send(START)
        await send({"type": "http.response.body", "body": b"partial", "more_body": True})
        raise Boom("mid-stream")

    result = call_wsgi(make_adapter(http_only(http)), catch=True)
    assert result.status == "200 OK"
    assert result.chunks == [b"partial"]
    assert isinstance(result.error, Boom)
    assert not result.exc_info_passed


def test_app_returning_without_a_response_is_a_500(
    make_adapter: Callable[..., AsgiToWsgi],
) -> None:
    async def http(scope: Scope, receive: Any, send: Any) -> None:
        return None

    result = call_wsgi(make_adapter(http_only(http)))
    assert result.status is not None and result.status.startswith("500 ")


def test_app_returning_after_start_ends_the_response(
    make_adapter: Callable[..., AsgiToWsgi],
) -> None:
    async def only_start(scope: Scope, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 201, "headers": CT})

    async def start_and_partial(scope: Scope, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 202, "headers": CT})
        await send({"type": "http.response.body", "body": b"part", "more_body": True})

    adapter = make_adapter(http_only(only_start))
    result = call_wsgi(adapter)
    assert (result.status, result.body) == ("201 Created", b"")
    adapter = make_adapter(http_only(start_and_partial))
    result = call_wsgi(adapter)
    assert (result.status, result.chunks) == ("202 Accepted", [b"part"])


def test_iterable_close_is_idempotent(make_adapter: Callable[..., AsgiToWsgi]) -> None:
    stopped = threading.Event()
    outcomes: list[str] = []

    async def http(scope: Scope, receive: Any, send: Any) -> None:
        await send(START)
        try:
            while True:
                await send({"type": "http.response.body", "body": b"x", "more_body": True})
        except ClientDisconnected:
            outcomes.append("disconnected")
        finally:
            stopped.set()

    adapter = make_adapter(http_only(http))
    environ = build_environ()
    statuses: list[str] = []
    iterable: Any = adapter(environ, lambda status, headers, *exc: statuses.append(status))
    assert next(iter(iterable)) == b"x"
    iterable.close()
    iterable.close()
    assert stopped.wait(TIMEOUT)
    assert outcomes == ["disconnected"]
    assert statuses == ["200 OK"]
    # Closing again after the app ended is still harmless.
    iterable.close()


def test_early_close_cancels_the_app_at_once(make_adapter: Callable[..., AsgiToWsgi]) -> None:
    """B4.7 with wait_time=None: an app that ignores the disconnect is cancelled."""
    events: list[str] = []
    finished = threading.Event()

    async def http(scope: Scope, receive: Any, send: Any) -> None:
        try:
            await send(START)
            await send({"type": "http.response.body", "body": b"first", "more_body": True})
            try:
                await send({"type": "http.response.body", "body": b"second", "more_body": True})
            except ClientDisconnected:
                events.append("disconnected")
            await asyncio.Event().wait()  # waits forever unless cancelled
        except asyncio.CancelledError:
            events.append("cancelled")
            raise
        finally:
            finished.set()

    result = call_wsgi(make_adapter(http_only(http), wait_time=None), close_after=1)
    assert result.chunks == [b"first"]
    assert finished.wait(TIMEOUT)
    assert events == ["disconnected", "cancelled"]


@pytest.mark.parametrize("wait_time", [None, 0.5, 30.0])
def test_the_call_lasts_until_background_work_finished(
    make_adapter: Callable[..., AsgiToWsgi], wait_time: float | None
) -> None:
    """B4.8 (revised): close() waits for the app to return; None (default) without bound.

    The response is complete before the background work ends (the chunk was
    pulled first); close() returns only after it. Until issue 13, None meant
    "return at once": a test client saw unfinished background work.
    """
    order: list[str] = []

    async def http(scope: Scope, receive: Any, send: Any) -> None:
        await respond(send, b"done")
        await asyncio.sleep(0.05)  # background work after the response
        order.append("background done")

    # None is the default: the adapter is made without the argument.
    options = {} if wait_time is None else {"wait_time": wait_time}
    result = call_wsgi(
        make_adapter(http_only(http), **options),
        on_chunk=lambda index, chunk: order.append("chunk"),
    )
    order.append("call ended")
    assert result.body == b"done"
    assert order == ["chunk", "background done", "call ended"]


@pytest.mark.parametrize(
    ("computes", "wait_time"),
    [
        pytest.param(0.0, 0.1, id="awaits-at-once"),
        # With an eagerly started task (3.12+) the WSGI thread may finish and close
        # the response while the app's first step still runs; it must still find
        # the task to cancel after wait_time.
        pytest.param(0.2, 0.01, id="computes-before-its-first-await"),
    ],
)
def test_wait_time_cancels_background_work_that_overruns(
    make_adapter: Callable[..., AsgiToWsgi], computes: float, wait_time: float
) -> None:
    """B4.8: the whole response, then work past wait_time, which is cancelled."""
    cancelled = threading.Event()

    async def http(scope: Scope, receive: Any, send: Any) -> None:
        await respond(send, b"done")
        if computes:
            threading.Event().wait(computes)  # keeps the loop thread, before any await
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    result = call_wsgi(make_adapter(http_only(http), wait_time=wait_time))
    assert result.body == b"done"
    assert cancelled.wait(TIMEOUT)


def test_a_loop_passed_in_keeps_its_task_factory_for_requests(
    make_adapter: Callable[..., AsgiToWsgi],
) -> None:
    """loop=: request tasks come from the loop's own task factory (no eager bypass)."""
    loop = asyncio.new_event_loop()
    made: list[str] = []

    def factory(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> asyncio.Task[Any]:
        made.append(getattr(coro, "__qualname__", "?"))
        return asyncio.Task(coro, loop=loop, **kwargs)

    loop.set_task_factory(factory)
    runner = threading.Thread(target=loop.run_forever, name="test-owned-loop", daemon=True)
    runner.start()
    try:
        settle(loop)  # it is running
        adapter = make_adapter(http_only(respond_ok), loop=loop)
        assert call_wsgi(adapter).body == b"ok"
        assert any(name.endswith("_AsgiCall._run") for name in made), made
        adapter.close()
    finally:
        loop.call_soon_threadsafe(loop.stop)
        runner.join(TIMEOUT)
        assert not runner.is_alive()
        loop.close()


# -- B5: extensions --------------------------------------------------------------------


@pytest.fixture
def data_file(tmp_path: Path) -> tuple[Path, bytes]:
    data = os.urandom(200_000)
    path = tmp_path / "payload.bin"
    path.write_bytes(data)
    return path, data


def _pathsend_app(path: str) -> Callable[..., Any]:
    async def http(scope: Scope, receive: Any, send: Any) -> None:
        await send(START)
        await send({"type": "http.response.pathsend", "path": path})

    return http_only(http)


def test_pathsend_streams_the_file(
    make_adapter: Callable[..., AsgiToWsgi], data_file: tuple[Path, bytes]
) -> None:
    path, data = data_file
    result = call_wsgi(make_adapter(_pathsend_app(str(path))))
    assert result.status == "200 OK"
    assert result.body == data


class SentinelFileWrapper:
    """A ``wsgi.file_wrapper`` that records its use."""

    instances: list[SentinelFileWrapper] = []

    def __init__(self, filelike: Any, blksize: int = 8192) -> None:
        self.filelike = filelike
        self.blksize = blksize
        self.closed = False
        SentinelFileWrapper.instances.append(self)

    def __iter__(self) -> Iterator[bytes]:
        while block := self.filelike.read(self.blksize):
            yield block

    def close(self) -> None:
        self.closed = True
        self.filelike.close()


def test_pathsend_uses_the_servers_file_wrapper(
    make_adapter: Callable[..., AsgiToWsgi], data_file: tuple[Path, bytes]
) -> None:
    """B4.9: a leading pathsend makes __call__ return the server's wsgi.file_wrapper."""
    path, data = data_file
    SentinelFileWrapper.instances.clear()
    result = call_wsgi(
        make_adapter(_pathsend_app(str(path))),
        environ_overrides={"wsgi.file_wrapper": SentinelFileWrapper},
        validate=False,  # so the returned object is the bridge's own
    )
    assert len(SentinelFileWrapper.instances) == 1
    wrapper = SentinelFileWrapper.instances[0]
    assert result.iterable is wrapper
    assert result.body == data
    assert wrapper.closed
    assert result.status == "200 OK"


@pytest.mark.parametrize("host_wrapper", [True, False], ids=["file_wrapper", "no file_wrapper"])
@pytest.mark.parametrize("fails", [False, True], ids=["background work", "failing background"])
def test_a_pathsend_response_lasts_until_the_app_returns(
    make_adapter: Callable[..., AsgiToWsgi],
    data_file: tuple[Path, bytes],
    host_wrapper: bool,
    fails: bool,
) -> None:
    """B4.8 and B4.5 for a file response (Starlette's FileResponse with a background
    task): closing the file ends the call as closing any response does, so the work
    has finished and its exception comes out of close() (the host's wrapper's too)."""
    path, data = data_file
    order: list[str] = []

    async def http(scope: Scope, receive: Any, send: Any) -> None:
        await send(START)
        await send({"type": "http.response.pathsend", "path": str(path)})
        await asyncio.sleep(0.05)  # the background work itself
        order.append("background done")
        if fails:
            raise LookupError("background failed")

    overrides = {"wsgi.file_wrapper": SentinelFileWrapper} if host_wrapper else None
    result = call_wsgi(
        make_adapter(http_only(http)),
        environ_overrides=overrides,
        validate=False,
        catch=True,
        on_chunk=lambda index, chunk: order.append("chunk") if index == 0 else None,
    )
    order.append("call ended")
    assert result.body == data and result.error is None
    assert order == ["chunk", "background done", "call ended"]
    if fails:
        assert isinstance(result.close_error, LookupError)
    else:
        assert result.close_error is None


def test_pathsend_missing_file_is_a_500(
    make_adapter: Callable[..., AsgiToWsgi], tmp_path: Path
) -> None:
    result = call_wsgi(make_adapter(_pathsend_app(str(tmp_path / "nope.bin"))))
    assert result.status is not None and result.status.startswith("500 ")


def test_pathsend_before_start_raises(
    make_adapter: Callable[..., AsgiToWsgi], data_file: tuple[Path, bytes]
) -> None:
    path, _ = data_file
    raised: list[BaseException] = []

    async def http(scope: Scope, receive: Any, send: Any) -> None:
        try:
            await send({"type": "http.response.pathsend", "path": str(path)})
        except Exception as exc:
            raised.append(exc)
        await respond(send, b"fallback")

    result = call_wsgi(make_adapter(http_only(http)))
    assert len(raised) == 1
    assert result.body == b"fallback"


def test_pathsend_after_a_body_chunk_raises_from_send(
    make_adapter: Callable[..., AsgiToWsgi], data_file: tuple[Path, bytes]
) -> None:
    """B5: mixing pathsend with http.response.body raises (in the app, from send)."""
    path, _ = data_file
    raised: list[BaseException] = []

    async def http(scope: Scope, receive: Any, send: Any) -> None:
        await send(START)
        await send({"type": "http.response.body", "body": b"head;", "more_body": True})
        try:
            await send({"type": "http.response.pathsend", "path": str(path)})
        except Exception as exc:
            raised.append(exc)
        await send({"type": "http.response.body", "body": b"tail"})

    result = call_wsgi(make_adapter(http_only(http)), catch=True)
    assert len(raised) == 1
    assert result.error is None
    assert result.body == b"head;tail"


def test_trailers_are_accepted_and_dropped(make_adapter: Callable[..., AsgiToWsgi]) -> None:
    raised: list[BaseException] = []
    returned = threading.Event()

    async def http(scope: Scope, receive: Any, send: Any) -> None:
        await send({**START, "trailers": True})
        await send({"type": "http.response.body", "body": b"a", "more_body": True})
        await send({"type": "http.response.body", "body": b"b", "more_body": False})
        try:
            await send(
                {
                    "type": "http.response.trailers",
                    "headers": [(b"x-checksum", b"abc")],
                    "more_trailers": False,
                }
            )
        except Exception as exc:
            raised.append(exc)
        returned.set()

    result = call_wsgi(make_adapter(http_only(http)))
    assert result.status == "200 OK"
    assert result.body == b"ab"
    assert returned.wait(TIMEOUT)
    assert raised == []
    assert result.header("x-checksum") is None


# -- concurrency, loops, fork -----------------------------------------------------------


def test_concurrent_requests_run_together_on_one_loop(
    make_adapter: Callable[..., AsgiToWsgi],
) -> None:
    n = 8
    arrived: list[int] = []
    loops: set[int] = set()
    everyone = asyncio.Event()

    async def http(scope: Scope, receive: Any, send: Any) -> None:
        loops.add(id(asyncio.get_running_loop()))
        body, _ = await read_body(receive)
        arrived.append(1)
        if len(arrived) == n:
            everyone.set()
        # Only possible if all n app instances are running at the same time.
        await asyncio.wait_for(everyone.wait(), TIMEOUT)
        await respond(send, b"echo:" + body)

    adapter = make_adapter(http_only(http))
    results: dict[int, Any] = {}
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            results[i] = call_wsgi(adapter, "POST", body=b"%d" % i)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT * 2)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []
    for i in range(n):
        assert results[i].status == "200 OK"
        assert results[i].body == b"echo:%d" % i
    assert len(loops) == 1


def test_loop_given_is_used_and_left_running(make_adapter: Callable[..., AsgiToWsgi]) -> None:
    loop = asyncio.new_event_loop()
    runner = threading.Thread(target=loop.run_forever, name="test-owned-loop", daemon=True)
    runner.start()
    try:
        settle(loop)  # it is running
        used: list[bool] = []

        async def http(scope: Scope, receive: Any, send: Any) -> None:
            used.append(asyncio.get_running_loop() is loop)
            await respond(send)

        before = loop_threads()
        adapter = make_adapter(with_lifespan(http), loop=loop)
        assert call_wsgi(adapter).body == b"ok"
        assert call_wsgi(adapter).body == b"ok"
        assert used == [True, True]
        assert loop_threads() == before  # no thread of the bridge's own
        adapter.close()
        assert loop.is_running()
        assert not loop.is_closed()
        settle(loop)  # still serving callbacks
    finally:
        loop.call_soon_threadsafe(loop.stop)
        runner.join(TIMEOUT)
        assert not runner.is_alive()
        loop.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="POSIX fork only")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # fork with threads, 3.12+
def test_instance_built_before_fork_serves_in_the_child(
    make_adapter: Callable[..., AsgiToWsgi],
) -> None:
    """B6.8: gunicorn --preload; the child runs its own lifespan startup."""
    startups: list[int] = []

    def startup(state: dict[str, Any]) -> None:
        startups.append(os.getpid())
        state["startups"] = len(startups)
        state["pid"] = os.getpid()

    async def http(scope: Scope, receive: Any, send: Any) -> None:
        state = scope["state"]
        await respond(send, b"pid=%d startups=%d" % (state["pid"], state["startups"]))

    adapter = make_adapter(with_lifespan(http, startup))
    parent = call_wsgi(adapter)
    assert parent.body == b"pid=%d startups=1" % os.getpid()

    def child() -> bytes:
        result = call_wsgi(adapter)
        return b"%s|%s|%d" % (
            (result.status or "").encode(),
            result.body,
            sum(1 for t in threading.enumerate() if t.name == LOOP_THREAD),
        )

    _, status, report = in_fork(child, TIMEOUT)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, report
    child_status, child_body, child_threads = report.split(b"|")
    assert child_status == b"200 OK"
    child_pid = int(child_body.split()[0].split(b"=")[1])
    assert child_pid != os.getpid()
    assert child_body.endswith(b"startups=2")  # startup ran again, in the child
    assert child_threads == b"1"
    # The parent's adapter is unaffected.
    again = call_wsgi(adapter)
    assert again.body == b"pid=%d startups=1" % os.getpid()
    assert startups == [os.getpid()]


class ClosingElsewhereFileWrapper(SentinelFileWrapper):
    """A ``wsgi.file_wrapper`` whose host closes it on another thread (waitress's I/O
    thread does, once the file is sent)."""

    def close(self) -> None:
        closer = threading.Thread(target=super().close)
        closer.start()
        closer.join(TIMEOUT)
        assert not closer.is_alive(), "closing the file blocked the host's other thread"


def test_a_file_closed_on_another_thread_never_waits_for_the_app(
    make_adapter: Callable[..., AsgiToWsgi],
    data_file: tuple[Path, bytes],
) -> None:
    """Found in review: waitress closes a file wrapper on its single I/O thread, which
    waited there for the app's background work, stalling every connection. Only the
    request's own thread waits; elsewhere the app runs on, and what it raises later
    is logged once."""
    path, data = data_file
    release = threading.Event()
    finished = threading.Event()

    async def http(scope: Scope, receive: Any, send: Any) -> None:
        await send(START)
        await send({"type": "http.response.pathsend", "path": str(path)})
        try:
            await asyncio.get_running_loop().run_in_executor(None, release.wait, TIMEOUT)
            raise LookupError("background failed")
        finally:
            finished.set()

    logged = threading.Event()
    errors: list[object] = []

    class Watch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.exc_info:
                errors.append(record.exc_info[0])
                logged.set()

    watch = Watch(logging.ERROR)
    logging.getLogger("bridge").addHandler(watch)
    try:
        result = call_wsgi(
            make_adapter(http_only(http)),
            environ_overrides={"wsgi.file_wrapper": ClosingElsewhereFileWrapper},
            validate=False,
        )
        assert result.body == data and not finished.is_set()  # closed without waiting
        release.set()
        assert logged.wait(TIMEOUT)  # the loop logs it once the app raised
        assert finished.wait(TIMEOUT)
    finally:
        logging.getLogger("bridge").removeHandler(watch)
    assert errors == [LookupError]


def test_on_waitress_a_file_is_sent_in_blocks_not_through_its_file_wrapper(
    make_adapter: Callable[..., AsgiToWsgi], data_file: tuple[Path, bytes]
) -> None:
    """waitress never sendfiles its wrapper and closes it on its I/O thread: blocks keep
    the end of the call (the wait for the app) on the request's thread."""
    path, data = data_file
    SentinelFileWrapper.instances.clear()
    result = call_wsgi(
        make_adapter(_pathsend_app(str(path))),
        environ_overrides={"wsgi.file_wrapper": SentinelFileWrapper, "SERVER_SOFTWARE": "waitress"},
        validate=False,
    )
    assert result.body == data and SentinelFileWrapper.instances == []
