"""Hostile input from either side of the bridge (issue 7, item 2).

Every case ends in a clear exception or a clean 4xx/5xx, never a hang and never
a forwarded injection. Cases already shown elsewhere are only listed here:

* response header CR/LF/NUL, non-token names, str headers, invalid statuses,
  str and non-bytes body chunks, messages out of order on ``send``:
  tests/test_http.py, test_asgi_to_wsgi.py (``SEND_VIOLATIONS``),
  test_wsgi_to_asgi_guarantees.py (``BAD_START_RESPONSE_CALLS``);
* duplicate / conflicting / non-numeric Content-Length from an ASGI server,
  underscore header names in the pure translator: tests/test_environ.py;
* negative or non-numeric CONTENT_LENGTH: tests/test_scope.py and
  test_asgi_to_wsgi.py;
* absurdly long paths and query strings: tests/test_limits.py (414).

What is new here: request headers (both directions) carrying CR, LF or NUL or
a non-token name, hostile methods and paths, non-bytes data from an ASGI
server, receive() messages out of order, conflicting length variables from a
WSGI server, non-latin-1 text, and hypothesis over arbitrary bytes for the
pure translators (only the documented exceptions, and nothing dangerous in
what they return).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from asgi_client import Client, serve
from asgi_scope import http_scope
from hypothesis import given
from hypothesis import strategies as st
from wsgi_driver import Result, call_wsgi

from bridge import AsgiToWsgi, WsgiToAsgi
from bridge._environ import build_environ
from bridge._errors import RequestRejected
from bridge._http import decode_asgi_headers, encode_wsgi_headers, parse_status
from bridge._scope import build_scope, request_body_length

Message = dict[str, Any]
Scope = dict[str, Any]
TIMEOUT = 10
CT = [(b"content-type", b"text/plain")]
CR_LF_NUL = [b"\r", b"\n", b"\x00", b"\r\nSet-Cookie: evil=1"]
BAD_NAMES = [b"x a", b"x\r\ny", b"x\x00", b"x:y", b"", b"(x)", b"x\xff", b"x/y"]


# ---------------------------------------------------------------- WsgiToAsgi side


class Spy:
    """A WSGI app that records its environ and reads its whole body."""

    def __init__(self) -> None:
        self.environs: list[dict[str, Any]] = []
        self.errors: list[BaseException] = []
        self.done = threading.Event()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        self.environs.append(environ)
        try:
            environ["wsgi.input"].read()
        except Exception as exc:
            self.errors.append(exc)
            raise
        finally:
            self.done.set()
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    def cgi(self) -> dict[str, Any]:
        return {k: v for k, v in self.environs[0].items() if k.isupper()}


@pytest.mark.anyio
@pytest.mark.parametrize("bad", CR_LF_NUL)
async def test_w2a_request_header_value_with_cr_lf_nul_is_400(bad: bytes) -> None:
    spy = Spy()
    client = Client()
    await serve(WsgiToAsgi(spy), client, headers=[(b"host", b"x"), (b"x-a", b"v" + bad + b"w")])
    assert client.status == 400 and spy.environs == []
    assert b"CR, LF or NUL" in client.sent[1]["body"]


@pytest.mark.anyio
@pytest.mark.parametrize("name", BAD_NAMES)
async def test_w2a_request_header_name_that_is_not_a_token_is_400(name: bytes) -> None:
    spy = Spy()
    client = Client()
    await serve(WsgiToAsgi(spy), client, headers=[(b"host", b"x"), (name, b"v")])
    assert client.status == 400 and spy.environs == []


@pytest.mark.anyio
async def test_w2a_other_controls_and_obs_text_are_kept_as_latin1() -> None:
    """RFC 9110 5.5: only CR, LF and NUL must be refused; obs-text is latin-1."""
    spy = Spy()
    client = Client()
    value = b"a\tb\x01c\x7f\xe9\xff"
    await serve(WsgiToAsgi(spy), client, headers=[(b"x-a", value)])
    assert client.status == 200
    assert spy.environs[0]["HTTP_X_A"] == value.decode("latin-1")


@pytest.mark.anyio
async def test_w2a_underscore_header_cannot_spoof_a_dash_header() -> None:
    spy = Spy()
    client = Client()
    headers = [(b"x_user", b"mallory"), (b"x-user", b"alice"), (b"X_USER", b"eve")]
    await serve(WsgiToAsgi(spy), client, headers=headers)
    assert client.status == 200
    assert spy.environs[0]["HTTP_X_USER"] == "alice"
    assert "mallory" not in repr(spy.cgi()) and "eve" not in repr(spy.cgi())


@pytest.mark.anyio
@pytest.mark.parametrize("method", ["GET\r\n", "G ET", "", "GÉT", "GET\x00", "€"])
async def test_w2a_method_that_is_not_a_token_is_400(method: str) -> None:
    spy = Spy()
    client = Client()
    await serve(WsgiToAsgi(spy), client, method=method)
    assert client.status == 400 and spy.environs == []


@pytest.mark.anyio
@pytest.mark.parametrize(
    "fields",
    [{"path": "/\ud800"}, {"path": "/a/\udfff", "raw_path": None}, {"root_path": "/\ud800"}],
)
async def test_w2a_path_that_no_bytes_stand_for_is_400(fields: dict[str, Any]) -> None:
    spy = Spy()
    client = Client()
    await serve(WsgiToAsgi(spy), client, **fields)
    assert client.status == 400 and spy.environs == []


@pytest.mark.anyio
async def test_w2a_non_utf8_and_non_latin1_paths_arrive_as_wsgi_strings() -> None:
    spy = Spy()
    await serve(WsgiToAsgi(spy), Client(), path="/€/\udcff", raw_path=None)
    path_info = spy.environs[0]["PATH_INFO"]
    assert path_info == "/\xe2\x82\xac/\xff"  # UTF-8 bytes of the euro, the escaped octet
    assert all(ord(c) <= 0xFF for c in path_info)


@pytest.mark.anyio
async def test_w2a_str_headers_from_the_server_are_a_clear_type_error() -> None:
    spy = Spy()
    with pytest.raises(TypeError, match="pairs of bytes"):
        await serve(WsgiToAsgi(spy), Client(), headers=[("host", "x")])
    assert spy.environs == []


@pytest.mark.anyio
@pytest.mark.parametrize("preread_size", [0, 1024], ids=["read lazily", "pre-read"])
async def test_w2a_str_body_from_the_server_is_a_clear_type_error(preread_size: int) -> None:
    spy = Spy()
    client = Client(messages=[{"type": "http.request", "body": "text", "more_body": False}])
    bridged = WsgiToAsgi(spy, preread_size=preread_size)
    with pytest.raises(TypeError, match="'body' must be bytes"):
        await serve(bridged, client, method="POST", headers=[(b"content-length", b"4")])
    if preread_size:  # received on the loop before the app: it is never called
        assert spy.environs == []
        return
    assert spy.done.wait(TIMEOUT)  # the app's read failed too, with the same error
    assert len(spy.errors) == 1 and isinstance(spy.errors[0], TypeError)


@pytest.mark.anyio
@pytest.mark.parametrize("kind", ["http.response.start", "websocket.receive", "lifespan.startup"])
@pytest.mark.parametrize("preread_size", [0, 1024], ids=["read lazily", "pre-read"])
async def test_w2a_receive_message_out_of_order_is_a_clear_error(
    kind: str, preread_size: int
) -> None:
    spy = Spy()
    client = Client(messages=[{"type": kind}])
    bridged = WsgiToAsgi(spy, preread_size=preread_size)
    with pytest.raises(RuntimeError, match="unexpected ASGI receive"):
        await serve(bridged, client, method="POST", headers=[(b"content-length", b"4")])
    if preread_size:  # received on the loop before the app: it is never called
        assert spy.environs == []
        return
    assert spy.done.wait(TIMEOUT)
    assert len(spy.errors) == 1 and isinstance(spy.errors[0], RuntimeError)


@pytest.mark.anyio
@pytest.mark.parametrize("chunk", [42, None, "text", ["b"]])
async def test_w2a_non_bytes_chunks_from_the_app_raise_and_close(chunk: object) -> None:
    closed = threading.Event()

    class Body:
        def __iter__(self) -> Any:
            yield b"fine"
            yield chunk

        def close(self) -> None:
            closed.set()

    def app(environ: dict[str, Any], start_response: Any) -> Body:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return Body()

    client = Client()
    with pytest.raises(TypeError, match="not bytes"):
        await serve(WsgiToAsgi(app), client)
    assert closed.wait(TIMEOUT)
    assert not client.sent or client.sent[-1].get("more_body") is not False


@pytest.mark.anyio
@pytest.mark.parametrize("data", ["text", 42])
async def test_w2a_write_with_non_bytes_is_a_type_error(data: object) -> None:
    raised: list[BaseException] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        try:
            write(data)
        except TypeError as exc:
            raised.append(exc)
        return [b"after"]

    client = Client()
    await serve(WsgiToAsgi(app), client)
    assert len(raised) == 1 and client.status == 200
    assert b"".join(m.get("body", b"") for m in client.sent[1:]) == b"after"


# ---------------------------------------------------------------- AsgiToWsgi side


def echo_scope() -> tuple[Any, list[Scope]]:
    scopes: list[Scope] = []

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        scopes.append(scope)
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": CT})
        await send({"type": "http.response.body", "body": body})

    return app, scopes


@pytest.mark.parametrize("bad", [b.decode("latin-1") for b in CR_LF_NUL])
@pytest.mark.parametrize("key", ["HTTP_X_A", "CONTENT_TYPE", "HTTP_COOKIE"])
def test_a2w_request_header_value_with_cr_lf_nul_is_400(
    make_adapter: Callable[..., AsgiToWsgi], key: str, bad: str
) -> None:
    app, scopes = echo_scope()
    result = call_wsgi(make_adapter(app), environ_overrides={key: "v" + bad + "w"}, validate=False)
    assert result.status == "400 Bad Request" and scopes == []
    assert b"CR, LF or NUL" in result.body


@pytest.mark.parametrize("key", ["HTTP_X A", "HTTP_X:A", "HTTP_", "HTTP_X\r\nY", "HTTP_X(Y)"])
def test_a2w_environ_key_that_makes_no_token_name_is_400(
    make_adapter: Callable[..., AsgiToWsgi], key: str
) -> None:
    app, scopes = echo_scope()
    result = call_wsgi(make_adapter(app), environ_overrides={key: "v"}, validate=False)
    assert result.status == "400 Bad Request" and scopes == []


def test_a2w_non_latin1_text_from_a_broken_server_becomes_utf8_bytes(
    make_adapter: Callable[..., AsgiToWsgi],
) -> None:
    app, scopes = echo_scope()
    overrides = {"HTTP_X_A": "€", "PATH_INFO": "/€", "QUERY_STRING": "q=€", "SCRIPT_NAME": ""}
    result = call_wsgi(make_adapter(app), environ_overrides=overrides, validate=False)
    assert result.status == "200 OK"
    scope = scopes[0]
    assert (b"x-a", "€".encode()) in scope["headers"]
    assert scope["path"] == "/€" and scope["query_string"] == "q=€".encode()


def post_12345(adapter: AsgiToWsgi, overrides: dict[str, str]) -> Result:
    """POST the 5-byte body ``12345`` with ``overrides`` in the environ, unvalidated."""
    return call_wsgi(adapter, "POST", body=b"12345", environ_overrides=overrides, validate=False)


@pytest.mark.parametrize("value", ["-1", "abc", "5, 5", "5,6", "1e3", "0x10", "\u0663"])
def test_a2w_hostile_content_length_is_400_without_calling_the_app(
    make_adapter: Callable[..., AsgiToWsgi], value: str
) -> None:
    app, scopes = echo_scope()
    result = post_12345(make_adapter(app), {"CONTENT_LENGTH": value})
    assert result.status == "400 Bad Request" and scopes == []


@pytest.mark.parametrize("value", ["5\n", " 5\r\n", "\t5 "])
def test_a2w_content_length_with_surrounding_whitespace_is_forwarded_stripped(
    make_adapter: Callable[..., AsgiToWsgi], value: str
) -> None:
    """Found by fuzz/fuzz_translators.py: "5\\n" was read as 5 but forwarded raw."""
    app, scopes = echo_scope()
    result = post_12345(make_adapter(app), {"CONTENT_LENGTH": value})
    assert result.status == "200 OK" and result.body == b"12345"
    assert [v for n, v in scopes[0]["headers"] if n == b"content-length"] == [b"5"]


def test_a2w_conflicting_length_variables_follow_content_length_only(
    make_adapter: Callable[..., AsgiToWsgi],
) -> None:
    """CONTENT_LENGTH decides both the body read and the one header the app sees."""
    app, scopes = echo_scope()
    result = post_12345(make_adapter(app), {"HTTP_CONTENT_LENGTH": "9999"})
    assert result.status == "200 OK" and result.body == b"12345"
    lengths = [v for n, v in scopes[0]["headers"] if n == b"content-length"]
    assert lengths == [b"5"]


@pytest.mark.parametrize(
    "start",
    [
        {"type": "http.response.start", "status": 200, "headers": [*CT, (b"x", b"a\r\nb: c")]},
        {"type": "http.response.start", "status": 200, "headers": [(b"x\r\nb", b"c")]},
        {"type": "http.response.start", "status": "200 OK", "headers": CT},
        {"type": "http.response.start", "status": 200, "headers": {b"a": b"b"}},
    ],
)
def test_a2w_injection_in_the_response_start_is_a_500_and_never_forwarded(
    make_adapter: Callable[..., AsgiToWsgi], start: Message
) -> None:
    async def app(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await send(start)
        await send({"type": "http.response.body", "body": b"body"})

    result = call_wsgi(make_adapter(app))
    assert result.status == "500 Internal Server Error"
    assert all("\r" not in n + v and "\n" not in n + v for n, v in result.headers)
    assert result.body == b"Internal Server Error"


# ---------------------------------------------------------------- hypothesis: arbitrary bytes

# Arbitrary bytes, mixed with ordinary names and values so that many examples
# get past the first refusal and the translation itself is exercised.
NAMES = [b"host", b"x-a", b"X-A", b"content-length", b"content-type", b"cookie", b"x_a", b":path"]
header_names = st.one_of(st.sampled_from(NAMES), st.binary(max_size=12))
header_values = st.one_of(
    st.binary(max_size=24), st.text("abc019 ,;=\t\xe9", max_size=12).map(str.encode)
)
header_pairs = st.lists(st.tuples(header_names, header_values), max_size=8)
any_text = st.text(max_size=16)
methods = st.one_of(st.sampled_from(["GET", "POST", "PROPFIND"]), any_text)


@given(
    st.fixed_dictionaries(
        {
            "headers": header_pairs,
            "path": any_text,
            "root_path": any_text,
            "raw_path": st.one_of(st.none(), st.binary(max_size=16)),
            "query_string": st.binary(max_size=16),
            "method": methods,
        }
    )
)
def test_fuzz_build_environ_over_arbitrary_bytes(fields: dict[str, Any]) -> None:
    scope = http_scope(**fields)
    try:
        environ = build_environ(scope, {}, max_header_count=6, max_header_bytes=120)
    except RequestRejected as rejected:
        assert rejected.status in (400, 414, 431)
        return
    for key, value in environ.items():
        if key.isupper():
            assert type(value) is str and all(ord(c) <= 0xFF for c in value), key
        if key.startswith("HTTP_") or key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            assert not set(value) & set("\r\n\x00"), key
            assert key.replace("_", "").isalnum() or key.startswith("HTTP_"), key


environ_keys = st.one_of(
    st.sampled_from(["HTTP_X_A", "HTTP_HOST", "CONTENT_TYPE", "CONTENT_LENGTH", "PATH_INFO"]),
    st.text(max_size=10).map(lambda k: "HTTP_" + k),
)
environ_values = st.one_of(any_text, st.text("abc019 ,;=\t\xe9", max_size=12))


@given(st.dictionaries(environ_keys, environ_values, max_size=8))
def test_fuzz_build_scope_over_arbitrary_text(values: dict[str, str]) -> None:
    try:
        request_body_length(values)
        scope = build_scope(
            values, state=None, extensions={}, max_header_count=6, max_header_bytes=120
        )
    except RequestRejected as rejected:
        assert rejected.status in (400, 414, 431)
        return
    assert type(scope["raw_path"]) is bytes and type(scope["query_string"]) is bytes
    for name, value in scope["headers"]:
        assert type(name) is bytes and type(value) is bytes
        assert not set(name + value) & {13, 10, 0}
        assert name == name.lower() and name and b":" not in name and b" " not in name


@given(
    st.one_of(
        header_pairs,
        st.lists(st.tuples(st.binary(max_size=8), st.text(max_size=8)), max_size=3),
        st.binary(max_size=16),
    )
)
def test_fuzz_decode_asgi_headers_over_arbitrary_bytes(headers: Any) -> None:
    try:
        out = decode_asgi_headers(headers, 200)
    except (TypeError, ValueError):
        return
    assert sum(len(n) + len(v) for n, v in out) <= 200
    for name, value in out:
        assert not set(name + value) & set("\r\n\x00")
        assert name and ":" not in name and " " not in name


@given(st.lists(st.tuples(st.text(max_size=10), st.text(max_size=20)), max_size=8))
def test_fuzz_encode_wsgi_headers_over_arbitrary_text(headers: list[tuple[str, str]]) -> None:
    try:
        out = encode_wsgi_headers(headers, 200)
    except ValueError:
        return
    for name, value in out:
        assert not set(name + value) & {13, 10, 0}
        assert name and b":" not in name and b" " not in name


@given(st.binary(max_size=24))
def test_fuzz_parse_status_over_arbitrary_bytes_as_latin1(data: bytes) -> None:
    line = data.decode("latin-1")
    try:
        code = parse_status(line)
    except ValueError:
        return
    assert 200 <= code <= 999 and not set(line) & set("\r\n\x00")
