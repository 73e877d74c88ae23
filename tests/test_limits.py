"""The size limits of both adapters (issue 7, item 1), driven in-process.

Each limit is shown at its edge: exactly at the limit the request is served, one
past it is refused with the documented status, and the app is never called for
a refusal that can be decided from the request head. Every wait is bounded.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

import pytest
from asgi_client import Client, serve
from wsgi_driver import call_wsgi

from bridge import ASGIMiddleware, AsgiToWsgi, RequestBodyTooLarge, WSGIMiddleware, WsgiToAsgi
from bridge._limits import (
    DEFAULT_MAX_BODY_SIZE,
    DEFAULT_MAX_HEADER_BYTES,
    DEFAULT_MAX_HEADER_COUNT,
    DEFAULT_MAX_RESPONSE_HEADER_BYTES,
    check_limits,
)

Message = dict[str, Any]
Scope = dict[str, Any]
TIMEOUT = 10
CT = [(b"content-type", b"text/plain")]


# ---------------------------------------------------------------- options


def test_documented_defaults() -> None:
    assert DEFAULT_MAX_BODY_SIZE is None
    assert DEFAULT_MAX_HEADER_COUNT == 100
    assert DEFAULT_MAX_HEADER_BYTES == 65536
    assert DEFAULT_MAX_RESPONSE_HEADER_BYTES == 65536
    w2a = WsgiToAsgi(lambda e, s: [])
    assert (w2a.max_body_size, w2a.max_header_count, w2a.duplicate_header_limit) == (None, 100, 100)
    a2w = AsgiToWsgi(lambda s, r, se: None)
    assert (a2w.max_body_size, a2w.max_header_bytes, a2w.max_response_header_bytes) == (
        None,
        65536,
        65536,
    )
    a2w.close()


BAD_OPTIONS = [
    ("max_body_size", 0),
    ("max_body_size", -1),
    ("max_body_size", 1.5),
    ("max_header_count", 0),
    ("max_header_count", None),
    ("max_header_bytes", True),
    ("max_header_bytes", "64k"),
    ("max_response_header_bytes", -5),
]


@pytest.mark.parametrize(("name", "value"), BAD_OPTIONS)
def test_bad_option_values_are_refused_by_both_adapters(name: str, value: Any) -> None:
    with pytest.raises(ValueError, match=name):
        WsgiToAsgi(lambda e, s: [], **{name: value})
    with pytest.raises(ValueError, match=name):
        AsgiToWsgi(lambda s, r, se: None, **{name: value})


@pytest.mark.anyio
async def test_a2wsgi_style_aliases_take_the_limits() -> None:
    """``WSGIMiddleware`` / ``ASGIMiddleware`` are the same classes, limits included."""
    client = Client([b"x" * 11])
    await serve(WSGIMiddleware(Recorder(), workers=2, max_body_size=10), client, **with_length(11))
    assert client.status == 413
    a2w = ASGIMiddleware(http_only(ReadAll()), wait_time=None, max_body_size=10)
    try:
        assert call_wsgi(a2w, "POST", body=b"x" * 11).status == "413 " + HTTPStatus(413).phrase
    finally:
        a2w.close()


@pytest.mark.parametrize("value", [0, -1, 1.5, "100", True])
def test_duplicate_header_limit_is_checked_too(value: Any) -> None:
    with pytest.raises(ValueError, match="duplicate_header_limit must be a positive int or None"):
        WsgiToAsgi(lambda e, s: [], duplicate_header_limit=value)
    check_limits(duplicate_header_limit=1, max_body_size=None)  # the smallest valid values


def test_duplicate_header_limit_none_is_accepted_and_kept() -> None:
    """asgiref's ``WsgiToAsgi(app, duplicate_header_limit=None)`` switches the limit off."""
    check_limits(duplicate_header_limit=None)
    assert WsgiToAsgi(lambda e, s: [], duplicate_header_limit=None).duplicate_header_limit is None
    # None stays refused where it has no meaning.
    with pytest.raises(ValueError, match="max_header_count must be a positive int, got None"):
        check_limits(max_header_count=None)


# ---------------------------------------------------------------- WsgiToAsgi helpers


class Recorder:
    """A WSGI app that reads its body with ``read(step)`` and echoes it."""

    def __init__(self, step: int = -1, *, catch: bool = False) -> None:
        self.calls = 0
        self.step = step
        self.catch = catch
        self.errors: list[BaseException] = []
        self.parts: list[bytes] = []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        self.calls += 1
        stream = environ["wsgi.input"]
        try:
            while part := stream.read(self.step):
                self.parts.append(part)
        except RequestBodyTooLarge as exc:
            self.errors.append(exc)
            try:
                stream.read(1)  # a later read raises again, never looks like EOF
            except RequestBodyTooLarge as again:
                self.errors.append(again)
            if not self.catch:
                raise
            start_response("422 Unprocessable Entity", [("Content-Type", "text/plain")])
            return [b"too big, says the app"]
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"".join(self.parts)]


# A body of unknown length, as an HTTP/1.1 server hands over a chunked upload.
POST = {"method": "POST", "headers": [(b"host", b"x"), (b"transfer-encoding", b"chunked")]}


def with_length(n: int) -> dict[str, Any]:
    return {"method": "POST", "headers": [(b"host", b"x"), (b"content-length", str(n).encode())]}


# ---------------------------------------------------------------- WsgiToAsgi body


@pytest.mark.anyio
async def test_w2a_declared_length_over_the_limit_is_413_without_calling_the_app() -> None:
    app = Recorder()
    client = Client([b"x" * 11])
    await serve(WsgiToAsgi(app, max_body_size=10), client, **with_length(11))
    assert client.status == 413 and client.complete
    assert b"larger than the limit of 10" in client.body
    assert app.calls == 0 and client.receive_calls == 0  # not a byte of the body was asked for


@pytest.mark.anyio
async def test_w2a_declared_length_at_the_limit_is_served() -> None:
    app = Recorder()
    client = Client([b"x" * 10])
    await serve(WsgiToAsgi(app, max_body_size=10), client, **with_length(10))
    assert client.status == 200 and client.body == b"x" * 10


@pytest.mark.anyio
async def test_w2a_streamed_body_past_the_limit_raises_from_read_and_the_client_gets_413() -> None:
    app = Recorder(step=5)
    client = Client([b"12345", b"67890", b"X", b"never read"])
    await serve(WsgiToAsgi(app, max_body_size=10), client, **POST)
    # Everything up to the limit was readable; the read that crossed it raised,
    # and so did the next one.
    assert app.parts == [b"12345", b"67890"]
    assert len(app.errors) == 2
    assert all(isinstance(e, OSError) and "limit of 10" in str(e) for e in app.errors)
    assert client.status == 413 and client.complete
    assert b"limit of 10" in client.body


@pytest.mark.anyio
async def test_w2a_streamed_body_at_the_limit_is_served_whole() -> None:
    app = Recorder()
    client = Client([b"12345", b"67890"])
    await serve(WsgiToAsgi(app, max_body_size=10), client, **POST)
    assert client.status == 200 and client.body == b"1234567890" and not app.errors


@pytest.mark.anyio
async def test_w2a_app_that_catches_the_error_answers_itself() -> None:
    app = Recorder(catch=True)
    client = Client([b"x" * 8, b"y" * 8])
    await serve(WsgiToAsgi(app, max_body_size=10), client, **POST)
    assert client.status == 422 and client.body == b"too big, says the app"


@pytest.mark.anyio
async def test_w2a_overflow_after_the_response_began_cuts_it_off() -> None:
    """Headers already went out: no 413 can be sent, and the response never looks complete."""
    closed = threading.Event()

    class Body:
        def __init__(self, environ: dict[str, Any]) -> None:
            self.environ = environ

        def __iter__(self) -> Any:
            yield b"first"
            self.environ["wsgi.input"].read()  # crosses the limit: raises
            yield b"never"

        def close(self) -> None:
            closed.set()

    def app(environ: dict[str, Any], start_response: Any) -> Body:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return Body(environ)

    client = Client([b"x" * 6, b"y" * 6])
    # The app let the read error through: like any app exception after the
    # headers (A6.4) it leaves the ASGI call, so the server cuts the response.
    with pytest.raises(RequestBodyTooLarge):
        await serve(WsgiToAsgi(app, max_body_size=10), client, **POST)
    assert client.status == 200 and client.body == b"first"
    assert not client.complete
    assert closed.wait(TIMEOUT)


# ---------------------------------------------------------------- WsgiToAsgi heads


def counted_app() -> Any:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        app.calls += 1  # type: ignore[attr-defined]
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [environ["PATH_INFO"].encode("latin-1")[:20]]

    app.calls = 0  # type: ignore[attr-defined]
    return app


def numbered_headers(n: int) -> list[tuple[bytes, bytes]]:
    return [(b"x-h%d" % i, b"v") for i in range(n)]


HEAD_CASES = [
    # (adapter options, scope overrides, expected status)
    pytest.param({"max_header_count": 5}, {"headers": numbered_headers(5)}, 200, id="count-at"),
    pytest.param({"max_header_count": 5}, {"headers": numbered_headers(6)}, 431, id="count-over"),
    pytest.param({"max_header_bytes": 100}, {"headers": [(b"x-a", b"v" * 97)]}, 200, id="bytes-at"),
    pytest.param(
        {"max_header_bytes": 100}, {"headers": [(b"x-a", b"v" * 98)]}, 431, id="bytes-over"
    ),
    pytest.param(
        {"max_header_bytes": 100},
        {"headers": [(b"x-a", b"v" * 60), (b"x-b", b"v" * 60)]},
        431,
        id="bytes-summed",
    ),
    pytest.param({"max_header_bytes": 100}, {"path": "/" + "p" * 99}, 200, id="path-at"),
    pytest.param({"max_header_bytes": 100}, {"path": "/" + "p" * 100}, 414, id="path-over"),
    pytest.param(
        {"max_header_bytes": 100},
        {"path": "/" + "p" * 49, "query_string": b"q" * 51},
        414,
        id="path-plus-query-over",
    ),
    pytest.param({}, {"path": "/" + "p" * 70000}, 414, id="default-path"),
    pytest.param({}, {"query_string": b"q=" + b"x" * 70000}, 414, id="default-query"),
    pytest.param({}, {"headers": numbered_headers(101)}, 431, id="default-count"),
    pytest.param({}, {"headers": [(b"cookie", b"c" * 66000)]}, 431, id="default-bytes"),
]


@pytest.mark.anyio
@pytest.mark.parametrize(("options", "scope", "status"), HEAD_CASES)
async def test_w2a_request_head_limits(
    options: dict[str, Any], scope: dict[str, Any], status: int
) -> None:
    app = counted_app()
    client = Client()
    await serve(WsgiToAsgi(app, **options), client, **scope)
    assert client.status == status and client.complete
    assert app.calls == (1 if status == 200 else 0)


@pytest.mark.anyio
@pytest.mark.parametrize(("limit", "status"), [(None, 200), (100, 400), (150, 200), (149, 400)])
async def test_w2a_duplicate_header_limit_none_lets_every_copy_through(
    limit: int | None, status: int
) -> None:
    """A2.13: more than N copies of one header -> 400 without calling the app; None: no N."""
    seen: list[str] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        seen.append(environ["HTTP_X_MANY"])
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    client = Client()
    adapter = WsgiToAsgi(app, duplicate_header_limit=limit, max_header_count=1000)
    await serve(adapter, client, headers=[(b"x-many", b"v")] * 150)
    assert client.status == status and client.complete
    if status == 200:
        assert seen == [",".join(["v"] * 150)]
    else:
        assert seen == [] and b"more than" in client.body


@pytest.mark.anyio
async def test_w2a_oversized_response_headers_raise_inside_the_app_and_are_never_sent() -> None:
    seen: list[BaseException] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        try:
            start_response("200 OK", [("Content-Type", "text/plain"), ("X-Big", "b" * 200)])
        except ValueError as exc:
            seen.append(exc)
            raise
        return [b"unreachable"]

    client = Client()
    with pytest.raises(ValueError, match="max_response_header_bytes=100"):
        await serve(WsgiToAsgi(app, max_response_header_bytes=100), client)
    # The exception reaches the ASGI server, which answers 500; nothing was sent.
    assert len(seen) == 1 and client.sent == []


@pytest.mark.anyio
async def test_w2a_response_headers_at_the_limit_are_sent() -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        # 12 + 10 + 5 + 73 = 100 bytes of names and values
        start_response("200 OK", [("Content-Type", "text/plain"), ("X-Big", "b" * 73)])
        return [b"ok"]

    client = Client()
    await serve(WsgiToAsgi(app, max_response_header_bytes=100), client)
    assert client.status == 200 and (b"x-big", b"b" * 73) in client.sent[0]["headers"]


# ---------------------------------------------------------------- AsgiToWsgi helpers


def http_only(handler: Callable[..., Any]) -> Callable[..., Any]:
    """An ASGI app without lifespan support (it returns at once on a lifespan scope)."""

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await handler(scope, receive, send)

    return app


class ReadAll:
    """An ASGI app that reads the whole body and echoes it (or what it got)."""

    def __init__(self) -> None:
        self.calls = 0
        self.messages: list[Message] = []
        self.done = threading.Event()

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        self.calls += 1
        try:
            chunks = []
            while True:
                message = await receive()
                self.messages.append(message)
                if message["type"] == "http.disconnect":
                    raise OSError("client went away")  # as Starlette's ClientDisconnect
                chunks.append(message.get("body", b""))
                if not message.get("more_body"):
                    break
            await send({"type": "http.response.start", "status": 200, "headers": CT})
            await send({"type": "http.response.body", "body": b"".join(chunks)})
        finally:
            self.done.set()


class CountingInput(io.RawIOBase):
    """A ``wsgi.input`` of ``size`` bytes that counts what was read from it."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.left = size
        self.read_total = 0

    def readable(self) -> bool:
        return True

    def read(self, n: int | None = -1) -> bytes:
        n = self.left if n is None or n < 0 else min(n, self.left)
        self.left -= n
        self.read_total += n
        return b"z" * n


TO_EOF = {"wsgi.input_terminated": True, "CONTENT_LENGTH": None}


# ---------------------------------------------------------------- AsgiToWsgi body


def test_a2w_declared_length_over_the_limit_is_413_without_calling_the_app(
    make_adapter: Callable[..., AsgiToWsgi],
) -> None:
    app = ReadAll()
    result = call_wsgi(make_adapter(http_only(app), max_body_size=10), "POST", body=b"x" * 11)
    assert result.status is not None and result.status.startswith("413 ")
    assert b"larger than the limit of 10" in result.body
    assert app.calls == 0


def test_a2w_declared_length_at_the_limit_is_served(
    make_adapter: Callable[..., AsgiToWsgi],
) -> None:
    app = ReadAll()
    result = call_wsgi(make_adapter(http_only(app), max_body_size=10), "POST", body=b"x" * 10)
    assert result.status == "200 OK" and result.body == b"x" * 10


def test_a2w_body_read_to_eof_past_the_limit_is_a_disconnect_and_a_413(
    make_adapter: Callable[..., AsgiToWsgi],
) -> None:
    app = ReadAll()
    stream = CountingInput(10_000_000)
    adapter = make_adapter(http_only(app), max_body_size=100, chunk_size=30)
    result = call_wsgi(
        adapter, "POST", environ_overrides=TO_EOF, input_stream=stream, validate=False
    )
    assert result.status is not None and result.status.startswith("413 ")
    assert b"larger than the limit of 100" in result.body
    # The app got the body up to the limit, then a clean http.disconnect.
    assert app.done.wait(TIMEOUT)
    kinds = [m["type"] for m in app.messages]
    assert kinds[-1] == "http.disconnect" and set(kinds[:-1]) == {"http.request"}
    assert sum(len(m.get("body", b"")) for m in app.messages) <= 100
    # The input was never read much past the limit.
    assert stream.read_total <= 101


def test_a2w_body_read_to_eof_at_the_limit_is_served(
    make_adapter: Callable[..., AsgiToWsgi],
) -> None:
    app = ReadAll()
    adapter = make_adapter(http_only(app), max_body_size=100, chunk_size=30)
    result = call_wsgi(
        adapter, "POST", environ_overrides=TO_EOF, input_stream=CountingInput(100), validate=False
    )
    assert result.status == "200 OK" and result.body == b"z" * 100


def test_a2w_overflow_after_the_response_began_only_ends_the_body(
    make_adapter: Callable[..., AsgiToWsgi],
) -> None:
    seen: list[Message] = []

    async def handler(scope: Scope, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": CT})
        await send({"type": "http.response.body", "body": b"started,", "more_body": True})
        while True:
            message = await receive()
            seen.append(message)
            if message["type"] != "http.request" or not message.get("more_body"):
                break
        await send({"type": "http.response.body", "body": message["type"].encode()})

    adapter = make_adapter(http_only(handler), max_body_size=50, chunk_size=20)
    result = call_wsgi(
        adapter, "POST", environ_overrides=TO_EOF, input_stream=CountingInput(500), validate=False
    )
    assert result.status == "200 OK"
    assert result.body == b"started,http.disconnect"
    assert seen[-1] == {"type": "http.disconnect"}


def test_a2w_overflow_after_the_response_began_and_an_early_return_cuts_the_stream(
    make_adapter: Callable[..., AsgiToWsgi],
) -> None:
    """An app that stops on the http.disconnect the limit handed it: never a clean end."""

    async def handler(scope: Scope, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": CT})
        await send({"type": "http.response.body", "body": b"started,", "more_body": True})
        while (await receive())["type"] == "http.request":
            pass
        # returns on http.disconnect without finishing its body

    adapter = make_adapter(http_only(handler), max_body_size=50, chunk_size=20)
    result = call_wsgi(
        adapter,
        "POST",
        environ_overrides=TO_EOF,
        input_stream=CountingInput(500),
        validate=False,
        catch=True,
    )
    assert result.status == "200 OK" and result.body == b"started,"
    assert isinstance(result.error, RuntimeError)
    assert "max_body_size" in str(result.error)


# ---------------------------------------------------------------- AsgiToWsgi heads


def echo_path() -> tuple[Any, list[Scope]]:
    scopes: list[Scope] = []

    async def handler(scope: Scope, receive: Any, send: Any) -> None:
        scopes.append(scope)
        await send({"type": "http.response.start", "status": 200, "headers": CT})
        await send({"type": "http.response.body", "body": b"ok"})

    return http_only(handler), scopes


def headers_env(n: int, value: str = "v") -> dict[str, Any]:
    return {f"HTTP_X_H{i}": value for i in range(n)}


A2W_HEAD_CASES = [
    # (adapter options, environ overrides, expected status code)
    pytest.param({"max_header_count": 5}, headers_env(5), 200, id="count-at"),
    pytest.param({"max_header_count": 5}, headers_env(6), 431, id="count-over"),
    pytest.param({"max_header_bytes": 100}, {"HTTP_X_A": "v" * 97}, 200, id="bytes-at"),
    pytest.param({"max_header_bytes": 100}, {"HTTP_X_A": "v" * 98}, 431, id="bytes-over"),
    pytest.param({"max_header_bytes": 100}, {"PATH_INFO": "/" + "p" * 99}, 200, id="path-at"),
    pytest.param({"max_header_bytes": 100}, {"PATH_INFO": "/" + "p" * 100}, 414, id="path-over"),
    pytest.param(
        {"max_header_bytes": 100},
        {"SCRIPT_NAME": "/" + "s" * 40, "PATH_INFO": "/p", "QUERY_STRING": "q" * 60},
        414,
        id="script-path-query-over",
    ),
    pytest.param({}, {"PATH_INFO": "/" + "p" * 70000}, 414, id="default-path"),
    pytest.param({}, {"QUERY_STRING": "q" * 70000}, 414, id="default-query"),
    pytest.param({}, headers_env(101), 431, id="default-count"),
    pytest.param({}, {"HTTP_COOKIE": "c" * 66000}, 431, id="default-bytes"),
]


@pytest.mark.parametrize(("options", "overrides", "status"), A2W_HEAD_CASES)
def test_a2w_request_head_limits(
    make_adapter: Callable[..., AsgiToWsgi],
    options: dict[str, Any],
    overrides: dict[str, Any],
    status: int,
) -> None:
    app, scopes = echo_path()
    result = call_wsgi(make_adapter(app, **options), environ_overrides=overrides)
    assert result.status is not None and int(result.status[:3]) == status
    assert len(scopes) == (1 if status == 200 else 0)


def test_a2w_oversized_response_headers_are_a_500_and_never_forwarded(
    make_adapter: Callable[..., AsgiToWsgi],
) -> None:
    raised: list[BaseException] = []

    async def handler(scope: Scope, receive: Any, send: Any) -> None:
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [*CT, (b"x-big", b"b" * 90)],
                }
            )
        except ValueError as exc:
            raised.append(exc)
            raise
        await send({"type": "http.response.body", "body": b"unreachable"})

    result = call_wsgi(make_adapter(http_only(handler), max_response_header_bytes=100))
    assert result.status == "500 Internal Server Error"
    assert result.header("x-big") is None
    assert len(raised) == 1 and "max_response_header_bytes=100" in str(raised[0])


def test_a2w_response_headers_at_the_limit_are_forwarded(
    make_adapter: Callable[..., AsgiToWsgi],
) -> None:
    async def handler(scope: Scope, receive: Any, send: Any) -> None:
        headers = [*CT, (b"x-big", b"b" * 73)]  # 12 + 10 + 5 + 73 = 100
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"ok"})

    result = call_wsgi(make_adapter(http_only(handler), max_response_header_bytes=100))
    assert result.status == "200 OK" and result.header("x-big") == "b" * 73
