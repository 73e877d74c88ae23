"""bridge._environ.build_environ: ASGI http scope -> PEP 3333 environ (checklist A2, A1.1, A1.5)."""

from __future__ import annotations

import copy
import io
import sys
import warnings
from typing import Any
from wsgiref.validate import WSGIWarning, check_environ

import anyio
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import on_boundary, scopes

from bridge import WsgiToAsgi
from bridge._environ import build_environ
from bridge._errors import RequestRejected
from bridge._wsgi_input import RequestBody
from bridge._wsgi_to_asgi import FileWrapper, WsgiErrors

Scope = dict[str, Any]


def adapter_base() -> dict[str, Any]:
    """The per-adapter constants, as :class:`bridge.WsgiToAsgi` passes them."""
    return {
        "wsgi.version": (1, 0),
        "wsgi.errors": WsgiErrors(),
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.input_terminated": True,
        "wsgi.file_wrapper": FileWrapper,
    }


def make_scope(**overrides: Any) -> Scope:
    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/",
        "raw_path": None,
        "query_string": b"",
        "root_path": "",
        "headers": [],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    scope.update(overrides)
    return scope


def env(scope: Scope | None = None, **overrides: Any) -> dict[str, Any]:
    if scope is None:
        scope = make_scope(**overrides)
    return build_environ(scope, adapter_base())


def headers_env(headers: list[tuple[bytes, bytes]], **kw: Any) -> dict[str, Any]:
    return build_environ(make_scope(headers=headers), adapter_base(), **kw)


def rejected(scope: Scope, **kw: Any) -> RequestRejected:
    with pytest.raises(RequestRejected) as info:
        build_environ(scope, adapter_base(), **kw)
    return info.value


def validate(environ: dict[str, Any]) -> None:
    """wsgiref's environ checks, with the ``wsgi.input`` the adapter adds."""
    full = dict(environ)
    full["wsgi.input"] = RequestBody(None, 0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", WSGIWarning)
        check_environ(full)


def cgi_items(environ: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in environ.items() if "." not in k}


# ---------------------------------------------------------------- A1.1, A1.5, A2.1


def test_environ_is_plain_dict_and_validates() -> None:
    environ = env(
        method="POST",
        path="/x",
        query_string=b"a=1",
        headers=[(b"host", b"example.org"), (b"content-length", b"3")],
    )
    assert type(environ) is dict
    validate(environ)


def test_scope_is_not_mutated_and_is_exposed() -> None:
    scope = make_scope(
        path="/app/x",
        root_path="/app",
        raw_path=b"/app/x",
        headers=[(b"Cookie", b"a=1"), (b"cookie", b"b=2"), (b"x_y", b"1"), (b":authority", b"h")],
        server=("/tmp/socket", None),
    )
    before = copy.deepcopy(scope)
    environ = build_environ(scope, adapter_base())
    assert scope == before
    assert environ["asgi.scope"] is scope


def test_base_is_copied_not_changed() -> None:
    base = adapter_base()
    before = dict(base)
    first = build_environ(make_scope(path="/a"), base)
    second = build_environ(make_scope(path="/b"), base)
    assert base == before
    assert first is not base
    assert first is not second
    assert first["PATH_INFO"] == "/a"
    assert second["PATH_INFO"] == "/b"
    for key, value in before.items():
        assert first[key] is value


@pytest.mark.parametrize("method", ["GET", "POST", "PATCH", "DELETE", "OPTIONS", "PROPFIND"])
def test_request_method(method: str) -> None:
    environ = env(method=method)
    assert environ["REQUEST_METHOD"] == method


# ---------------------------------------------------------------- A2.2-A2.5 paths


def test_script_name_default_empty() -> None:
    scope = make_scope(path="/x")
    del scope["root_path"]
    environ = env(scope)
    assert environ["SCRIPT_NAME"] == ""
    assert environ["PATH_INFO"] == "/x"


def test_script_name_and_path_info_split() -> None:
    environ = env(root_path="/app", path="/app/users/1")
    assert environ["SCRIPT_NAME"] == "/app"
    assert environ["PATH_INFO"] == "/users/1"
    validate(environ)


def test_non_ascii_root_and_path_are_utf8_as_latin1() -> None:
    environ = env(root_path="/ünï", path="/ünï/café")
    assert environ["SCRIPT_NAME"] == "/\xc3\xbcn\xc3\xaf"
    assert environ["PATH_INFO"] == "/caf\xc3\xa9"
    assert environ["SCRIPT_NAME"].encode("latin-1").decode("utf-8") == "/ünï"
    assert environ["PATH_INFO"].encode("latin-1").decode("utf-8") == "/café"


def test_prefix_strip_is_segment_aware() -> None:
    environ = env(root_path="/app", path="/application")
    assert environ["PATH_INFO"] != "lication"
    assert environ["SCRIPT_NAME"] == "/app"
    assert environ["PATH_INFO"] == "/application"


def test_prefix_strip_segment_aware_with_raw_path() -> None:
    environ = env(root_path="/app", path="/application/\ufffd", raw_path=b"/application/%FF")
    assert environ["PATH_INFO"] == "/application/\xff"


def test_legacy_path_excluding_root() -> None:
    environ = env(root_path="/app", path="/users")
    assert environ["SCRIPT_NAME"] == "/app"
    assert environ["PATH_INFO"] == "/users"


@pytest.mark.parametrize("root_path", ["/app", "/app/"])
def test_path_equal_to_root_gives_empty_path_info(root_path: str) -> None:
    """A2.4: path == root_path gives PATH_INFO "", never "/"."""
    environ = env(root_path=root_path, path="/app")
    assert environ["SCRIPT_NAME"] == "/app"
    assert environ["PATH_INFO"] == ""
    validate(environ)


def test_root_path_slash_only() -> None:
    environ = env(root_path="/", path="/x")
    assert environ["SCRIPT_NAME"] == ""
    assert environ["PATH_INFO"] == "/x"
    validate(environ)


def test_raw_path_keeps_non_utf8_octets() -> None:
    environ = env(path="/\ufffd", raw_path=b"/%FF")
    assert environ["PATH_INFO"] == "/\xff"
    assert "\ufffd" not in environ["PATH_INFO"]


def test_raw_path_non_utf8_octets_with_root() -> None:
    environ = env(root_path="/app", path="/app/a\ufffdb", raw_path=b"/app/a%ffb")
    assert environ["SCRIPT_NAME"] == "/app"
    assert environ["PATH_INFO"] == "/a\xffb"


def test_raw_path_percent_encoded_utf8() -> None:
    environ = env(path="/café", raw_path=b"/caf%C3%A9")
    assert environ["PATH_INFO"] == "/caf\xc3\xa9"


def test_raw_path_encoded_slash_is_decoded() -> None:
    environ = env(path="/a/b", raw_path=b"/a%2Fb")
    assert environ["PATH_INFO"] == "/a/b"


def test_raw_path_disagreeing_path_wins() -> None:
    # Middleware rewrote `path`; raw_path still holds the original request target.
    environ = env(path="/rewritten", raw_path=b"/orig%FFinal")
    assert environ["PATH_INFO"] == "/rewritten"
    environ = env(path="/new/caf\u00e9", raw_path=b"/old/caf%C3%A9")
    assert environ["PATH_INFO"] == "/new/caf\xc3\xa9"


def test_raw_path_without_percent_disagreeing() -> None:
    environ = env(path="/rewritten", raw_path=b"/original")
    assert environ["PATH_INFO"] == "/rewritten"


def test_uvicorn_style_raw_path_excludes_root() -> None:
    # uvicorn --root-path: `path` includes root_path but `raw_path` does not.
    environ = env(root_path="/app", path="/app/\ufffd", raw_path=b"/%FF")
    assert environ["SCRIPT_NAME"] == "/app"
    assert environ["PATH_INFO"] == "/\xff"


def test_uvicorn_style_raw_path_path_equals_root() -> None:
    environ = env(root_path="/app", path="/app/x y", raw_path=b"/x%20y")
    assert environ["SCRIPT_NAME"] == "/app"
    assert environ["PATH_INFO"] == "/x y"


# ---------------------------------------------------------------- A2.6 query


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (b"", ""),
        (b"a=1&b=2", "a=1&b=2"),
        (b"q=%20%FF+x", "q=%20%FF+x"),  # no unquoting, no re-quoting
        (b"q=\xe9", "q=\xe9"),
        (bytes(range(256)), bytes(range(256)).decode("latin-1")),
    ],
)
def test_query_string_latin1(query: bytes, expected: str) -> None:
    environ = env(query_string=query)
    assert environ["QUERY_STRING"] == expected


def test_missing_query_string() -> None:
    scope = make_scope()
    del scope["query_string"]
    assert env(scope)["QUERY_STRING"] == ""


# ---------------------------------------------------------------- A2.7-A2.8 content headers


def test_content_headers_from_mixed_case_names() -> None:
    environ = headers_env([(b"Content-Type", b"text/html"), (b"CONTENT-LENGTH", b"12")])
    assert environ["CONTENT_TYPE"] == "text/html"
    assert environ["CONTENT_LENGTH"] == "12"
    assert "HTTP_CONTENT_TYPE" not in environ
    assert "HTTP_CONTENT_LENGTH" not in environ
    validate(environ)


def test_content_headers_absent_when_absent() -> None:
    environ = headers_env([(b"accept", b"*/*")])
    assert "CONTENT_TYPE" not in environ
    assert "CONTENT_LENGTH" not in environ
    assert "HTTP_CONTENT_TYPE" not in environ
    assert "HTTP_CONTENT_LENGTH" not in environ


@pytest.mark.parametrize(
    "values",
    [[b"5", b"5"], [b"5,5"], [b"5, 5"], [b"5", b"5, 5"]],
)
def test_agreeing_content_lengths_collapse(values: list[bytes]) -> None:
    environ = headers_env([(b"content-length", v) for v in values])
    assert environ["CONTENT_LENGTH"] == "5"
    assert "HTTP_CONTENT_LENGTH" not in environ


def test_agreeing_content_lengths_mixed_case_names() -> None:
    environ = headers_env([(b"Content-Length", b"7"), (b"content-length", b"7")])
    assert environ["CONTENT_LENGTH"] == "7"


@pytest.mark.parametrize("values", [[b"5", b"6"], [b"5,6"], [b"5", b"5,6"], [b"0", b"00001"]])
def test_conflicting_content_lengths_rejected(values: list[bytes]) -> None:
    error = rejected(make_scope(headers=[(b"content-length", v) for v in values]))
    assert error.status == 400


@pytest.mark.parametrize("value", [b"abc", b"-1", b"1.5", b"+5", b"0x10", b"", b"5 5", b"\xb2"])
def test_non_numeric_content_length_rejected(value: bytes) -> None:
    error = rejected(make_scope(headers=[(b"content-length", value)]))
    assert error.status == 400


# ---------------------------------------------------------------- A2.9-A2.12 other headers


def test_other_headers_become_http_keys() -> None:
    environ = headers_env(
        [
            (b"accept", b"text/html"),
            (b"X-Custom-Thing", b"caf\xe9"),
            (b"x-a", b"1"),
            (b"X-A", b"2"),
            (b"x-a", b"3"),
        ]
    )
    assert environ["HTTP_ACCEPT"] == "text/html"
    assert environ["HTTP_X_CUSTOM_THING"] == "café"
    assert environ["HTTP_X_A"] == "1,2,3"


def test_cookies_joined_with_semicolon() -> None:
    """A2.10: two cookie headers a=1 and b=2 give HTTP_COOKIE "a=1; b=2"."""
    environ = headers_env([(b"cookie", b"a=1"), (b"Cookie", b"b=2")])
    assert environ["HTTP_COOKIE"] == "a=1; b=2"


def test_single_cookie_unchanged() -> None:
    assert headers_env([(b"cookie", b"a=1, b=2")])["HTTP_COOKIE"] == "a=1, b=2"


@pytest.mark.parametrize(
    "headers",
    [
        [(b"x_forwarded_for", b"6.6.6.6"), (b"x-forwarded-for", b"1.1.1.1")],
        [(b"x-forwarded-for", b"1.1.1.1"), (b"x_forwarded_for", b"6.6.6.6")],
        [(b"X_Forwarded-For", b"6.6.6.6"), (b"x-forwarded-for", b"1.1.1.1")],
    ],
)
def test_underscore_names_dropped(headers: list[tuple[bytes, bytes]]) -> None:
    """A2.11: a name with "_" is dropped, never merged into HTTP_X_FORWARDED_FOR."""
    environ = headers_env(headers)
    assert environ["HTTP_X_FORWARDED_FOR"] == "1.1.1.1"
    assert "6.6.6.6" not in repr(cgi_items(environ))


def test_underscore_only_header_absent() -> None:
    environ = headers_env([(b"x_forwarded_for", b"6.6.6.6"), (b"content_length", b"9")])
    assert "HTTP_X_FORWARDED_FOR" not in environ
    assert "CONTENT_LENGTH" not in environ


def test_pseudo_headers_skipped() -> None:
    environ = headers_env(
        [(b":authority", b"evil.example"), (b":method", b"DELETE"), (b"accept", b"*/*")]
    )
    assert environ["HTTP_ACCEPT"] == "*/*"
    assert not any(":" in key for key in environ)
    assert "evil.example" not in repr(cgi_items(environ))
    assert environ["REQUEST_METHOD"] == "GET"


# ---------------------------------------------------------------- A2.13 duplicate limit


def test_duplicate_header_limit() -> None:
    ok = headers_env([(b"x-a", b"1")] * 3, duplicate_header_limit=3)
    assert ok["HTTP_X_A"] == "1,1,1"
    error = rejected(make_scope(headers=[(b"x-a", b"1")] * 4), duplicate_header_limit=3)
    assert error.status == 400


def test_duplicate_header_limit_counts_mixed_case_together() -> None:
    headers = [(b"X-A", b"1"), (b"x-a", b"2"), (b"x-A", b"3")]
    error = rejected(make_scope(headers=headers), duplicate_header_limit=2)
    assert error.status == 400


def test_duplicate_header_default_limit() -> None:
    assert headers_env([(b"x-a", b"1")] * 100)["HTTP_X_A"].count("1") == 100
    # max_header_count (default 100) would refuse 101 headers first, with 431.
    error = rejected(make_scope(headers=[(b"x-a", b"1")] * 101), max_header_count=1000)
    assert error.status == 400


def test_duplicate_cookie_limit() -> None:
    error = rejected(make_scope(headers=[(b"cookie", b"a=1")] * 6), duplicate_header_limit=5)
    assert error.status == 400


def test_duplicate_header_limit_none_counts_no_copies() -> None:
    """A2.13 switched off, as asgiref's ``duplicate_header_limit=None`` does."""
    headers = [(b"x-a", b"1")] * 300 + [(b"cookie", b"c=1")] * 300
    with pytest.raises(RequestRejected):  # the default limit refuses these ...
        build_environ(make_scope(headers=headers), adapter_base(), max_header_count=1000)
    environ = headers_env(headers, duplicate_header_limit=None, max_header_count=1000)
    assert environ["HTTP_X_A"] == ",".join(["1"] * 300)  # ... None joins them all
    assert environ["HTTP_COOKIE"] == "; ".join(["c=1"] * 300)


def test_duplicate_header_limit_none_keeps_the_other_refusals() -> None:
    """None lifts the copy count only: conflicting lengths and the size limits still refuse."""
    lengths = [(b"content-length", b"5"), (b"content-length", b"6")]
    assert rejected(make_scope(headers=lengths), duplicate_header_limit=None).status == 400
    many = [(b"x-a", b"1")] * 101  # past max_header_count (100)
    assert rejected(make_scope(headers=many), duplicate_header_limit=None).status == 431
    big = [(b"x-a", b"v" * 60)] * 2
    error = rejected(make_scope(headers=big), duplicate_header_limit=None, max_header_bytes=100)
    assert error.status == 431


# ---------------------------------------------------------------- A2.14 server


def check_server_values(environ: dict[str, Any]) -> None:
    for key in ("SERVER_NAME", "SERVER_PORT"):
        value = environ[key]
        assert type(value) is str
        assert value
        assert value not in ("None", "0")
        assert "/" not in value


def test_server_from_scope() -> None:
    environ = env(server=("example.org", 8080))
    assert environ["SERVER_NAME"] == "example.org"
    assert environ["SERVER_PORT"] == "8080"
    check_server_values(environ)


@pytest.mark.parametrize(
    ("server", "host", "scheme", "name", "port"),
    [
        (None, b"h.example:81", "http", "h.example", "81"),
        (None, b"h.example", "http", "h.example", "80"),
        (None, b"h.example", "https", "h.example", "443"),
        (("/tmp/app.sock", None), b"h.example:8443", "https", "h.example", "8443"),
        (("/tmp/app.sock", None), b"h.example", "http", "h.example", "80"),
        (None, None, "http", "localhost", "80"),
        (None, None, "https", "localhost", "443"),
        (("/tmp/app.sock", None), None, "http", "localhost", "80"),
        (("/tmp/app.sock", None), None, "https", "localhost", "443"),
    ],
)
def test_server_fallbacks(
    server: Any, host: bytes | None, scheme: str, name: str, port: str
) -> None:
    headers = [] if host is None else [(b"host", host)]
    scope = make_scope(server=server, headers=headers, scheme=scheme)
    environ = env(scope)
    assert environ["SERVER_NAME"] == name
    assert environ["SERVER_PORT"] == port
    check_server_values(environ)
    validate(environ)


def test_server_missing_key() -> None:
    scope = make_scope(headers=[(b"host", b"h.example:9000")])
    del scope["server"]
    environ = env(scope)
    assert (environ["SERVER_NAME"], environ["SERVER_PORT"]) == ("h.example", "9000")


@pytest.mark.parametrize(
    ("host", "port"), [(b"[::1]:8080", "8080"), (b"[::1]", "80"), (b"[2001:db8::1]:81", "81")]
)
def test_server_ipv6_host_header(host: bytes, port: str) -> None:
    environ = env(server=("/run/sock", None), headers=[(b"host", host)])
    bracketed = host.decode().rsplit("]", 1)[0] + "]"
    assert environ["SERVER_NAME"] in (bracketed, bracketed[1:-1])
    assert environ["SERVER_PORT"] == port
    check_server_values(environ)


# ---------------------------------------------------------------- A2.15-A2.16


@pytest.mark.parametrize(
    ("version", "protocol"), [("1.0", "HTTP/1.0"), ("1.1", "HTTP/1.1"), ("2", "HTTP/2")]
)
def test_server_protocol(version: str, protocol: str) -> None:
    assert env(http_version=version)["SERVER_PROTOCOL"] == protocol


def test_server_protocol_default() -> None:
    scope = make_scope()
    del scope["http_version"]
    assert env(scope)["SERVER_PROTOCOL"] == "HTTP/1.1"


def test_remote_addr_and_port() -> None:
    environ = env(client=("10.1.2.3", 4567))
    assert environ["REMOTE_ADDR"] == "10.1.2.3"
    assert environ["REMOTE_PORT"] == "4567"


def test_remote_absent_without_client() -> None:
    environ = env(client=None)
    assert "REMOTE_ADDR" not in environ
    assert "REMOTE_PORT" not in environ
    scope = make_scope()
    del scope["client"]
    environ = env(scope)
    assert "REMOTE_ADDR" not in environ
    assert "REMOTE_PORT" not in environ


# ---------------------------------------------------------------- A2.17-A2.21


def test_url_scheme() -> None:
    assert env(scheme="https")["wsgi.url_scheme"] == "https"
    assert env(scheme="http")["wsgi.url_scheme"] == "http"
    scope = make_scope()
    del scope["scheme"]
    assert env(scope)["wsgi.url_scheme"] == "http"


def test_https_on() -> None:
    assert env(scheme="https")["HTTPS"] == "on"
    assert "HTTPS" not in env(scheme="http")


def test_request_uri_from_raw_path_and_query() -> None:
    environ = env(path="/a b", raw_path=b"/a%20b", query_string=b"x=\xe9")
    if "REQUEST_URI" in environ:
        assert environ["REQUEST_URI"] == "/a%20b?x=\xe9"
    if "RAW_URI" in environ:
        assert environ["RAW_URI"] == "/a%20b?x=\xe9"


def test_nothing_comes_from_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCRIPT_NAME", "/evil")
    monkeypatch.setenv("HTTP_X_EVIL", "1")
    monkeypatch.setenv("SERVER_NAME", "evil.example")
    environ = env(path="/x", server=("good.example", 80))
    assert environ["SCRIPT_NAME"] == ""
    assert environ["PATH_INFO"] == "/x"
    assert "HTTP_X_EVIL" not in environ
    assert environ["SERVER_NAME"] == "good.example"


def test_wsgi_errors_accepts_any_unicode(capsys: pytest.CaptureFixture[str]) -> None:
    """A2.18: write() takes any str, even one stderr cannot encode; writelines, flush; stderr."""
    errors = WsgiErrors()
    errors.write("snow \u2603 and a lone surrogate \udcff and \U0001f600\n")
    errors.writelines(["a\n", "caf\xe9\n"])
    errors.flush()
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "snow" in captured.err
    assert "caf" in captured.err


def test_file_wrapper_reads_from_current_position_and_closes() -> None:
    data = b"0123456789" * 1000
    stream = io.BytesIO(data)
    stream.seek(5)
    wrapper = FileWrapper(stream, 1000)
    assert b"".join(wrapper) == data[5:]
    assert not stream.closed
    wrapper.close()
    assert stream.closed


def _capture_adapter_environ(
    workers: int, scope: Scope
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    captured: list[dict[str, Any]] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        captured.append(environ)
        environ["wsgi.errors"].write("\u2603 from the app\n")
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    sent: list[dict[str, Any]] = []
    messages = [{"type": "http.request", "body": b"", "more_body": False}]

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop(0)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    adapter = WsgiToAsgi(app, workers=workers)

    async def main() -> None:
        with anyio.fail_after(10):
            await adapter(scope, receive, send)

    try:
        anyio.run(main)
    finally:
        executor = getattr(adapter, "_executor", None)
        if executor is not None:
            executor.shutdown(wait=True)
    assert len(captured) == 1
    return captured[0], sent


@pytest.mark.parametrize("workers", [1, 4])
def test_adapter_environ_constants(workers: int, capsys: pytest.CaptureFixture[str]) -> None:
    """A2.18: the environ's wsgi.errors has write, writelines and flush, and is stderr."""
    scope = make_scope(path="/x", headers=[(b"host", b"h.example")])
    before = copy.deepcopy(scope)
    environ, sent = _capture_adapter_environ(workers, scope)
    assert sent[0]["type"] == "http.response.start"
    assert sent[0]["status"] == 200
    assert type(environ) is dict
    assert scope == before
    assert environ["asgi.scope"] is scope
    check_environ(environ)
    assert environ["wsgi.version"] == (1, 0)
    assert environ["wsgi.url_scheme"] == "http"
    assert environ["wsgi.multithread"] is (workers > 1)
    # A2.17 (revised): the ASGI server may run several worker processes (PEP 3333).
    assert environ["wsgi.multiprocess"] is True
    assert environ["wsgi.run_once"] is False
    assert environ["wsgi.input_terminated"] is True
    errors = environ["wsgi.errors"]
    assert errors is not sys.stdout
    for attr in ("write", "writelines", "flush"):
        assert callable(getattr(errors, attr))
    captured = capsys.readouterr()
    assert "from the app" not in captured.out
    assert "from the app" in captured.err
    wrapper = environ.get("wsgi.file_wrapper")
    if wrapper is not None:
        stream = io.BytesIO(b"abcdef")
        stream.read(2)
        iterable = wrapper(stream, blksize=3)
        assert b"".join(iterable) == b"cdef"
        iterable.close()
        assert stream.closed


# ---------------------------------------------------------------- properties

KNOWN_METHODS = ["GET", "HEAD", "POST", "OPTIONS", "PATCH", "PUT", "DELETE", "TRACE"]
methods = st.one_of(
    st.sampled_from(KNOWN_METHODS),
    st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=8),
)
header_values = st.one_of(
    st.binary(max_size=16),
    st.sampled_from([b"5", b"5,5", b"7", b"abc", b"a=1", b"text/plain", b"caf\xe9"]),
)
HOST_VALUES = [b"h.example", b"h.example:8080", b"[::1]:81", b"[::1]", b"127.0.0.1:9", b""]


def header_value_for(name: bytes) -> st.SearchStrategy[tuple[bytes, bytes]]:
    """Any value, invalid Content-Lengths included: rejections are part of the property."""
    values = st.sampled_from(HOST_VALUES) if name.lower() == b"host" else header_values
    return values.map(lambda value: (name, value))


@given(scopes(header_value_for, methods))
def test_property_environ_from_any_scope(scope: Scope) -> None:
    before = copy.deepcopy(scope)
    try:
        environ = build_environ(scope, adapter_base())
    except RequestRejected as error:
        assert error.status == 400
        return
    assert scope == before
    assert type(environ) is dict
    for key, value in cgi_items(environ).items():
        assert type(value) is str, key
        assert all(ord(c) <= 0xFF for c in value), key
    assert environ["REQUEST_METHOD"] == scope["method"]
    assert environ["QUERY_STRING"] == scope.get("query_string", b"").decode("latin-1")
    assert "HTTP_CONTENT_TYPE" not in environ
    assert "HTTP_CONTENT_LENGTH" not in environ
    path = scope["path"]
    root_path = scope.get("root_path", "")
    script_name = environ["SCRIPT_NAME"]
    path_info = environ["PATH_INFO"]
    assert script_name.encode("latin-1").decode("utf-8") == root_path.rstrip("/")
    if on_boundary(path, root_path):
        full = (script_name + path_info).encode("latin-1").decode("utf-8", "replace")
        assert full == path
    else:
        assert path_info.encode("latin-1").decode("utf-8", "replace") == path
    assert environ["SERVER_NAME"]
    assert environ["SERVER_NAME"] not in ("None", "/tmp/app.sock")
    assert environ["SERVER_PORT"].isdigit()
    assert environ["SERVER_PORT"] != "0"
    if scope["method"] in KNOWN_METHODS:
        validate(environ)
    else:
        full_env = dict(environ)
        full_env["wsgi.input"] = RequestBody(None, 0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", WSGIWarning)
            check_environ(full_env)


@given(
    st.lists(
        st.tuples(
            st.sampled_from([b"cookie", b"Cookie", b"x-a", b"X-A", b"accept", b"x_a"]),
            # CR, LF and NUL are refused (400), see tests/test_hostile_input.py
            st.binary(max_size=6).map(lambda v: v.translate(None, b"\r\n\x00")),
        ),
        max_size=10,
    )
)
def test_property_header_joining(headers: list[tuple[bytes, bytes]]) -> None:
    environ = headers_env(headers)
    kept = [(n.lower(), v.decode("latin-1")) for n, v in headers if b"_" not in n]
    for name, key, sep in (
        (b"cookie", "HTTP_COOKIE", "; "),
        (b"x-a", "HTTP_X_A", ","),
        (b"accept", "HTTP_ACCEPT", ","),
    ):
        values = [v for n, v in kept if n == name]
        if values:
            assert environ[key] == sep.join(values)
        else:
            assert key not in environ


@given(st.lists(st.integers(0, 10**6), min_size=1, max_size=4), st.booleans())
def test_property_content_length(values: list[int], joined: bool) -> None:
    texts = [str(v).encode() for v in values]
    headers = (
        [(b"content-length", b",".join(texts))]
        if joined
        else [(b"content-length", t) for t in texts]
    )
    scope = make_scope(headers=headers)
    if len(set(values)) == 1:
        environ = build_environ(scope, adapter_base())
        assert environ["CONTENT_LENGTH"] == str(values[0])
    else:
        assert rejected(scope).status == 400


@pytest.mark.parametrize(
    ("host", "scheme", "expected"),
    [
        ("h.example:0", "http", ("h.example", "80")),
        ("[::1]:0", "https", ("[::1]", "443")),
    ],
)
def test_host_header_port_zero_falls_back_to_the_default_port(
    host: str, scheme: str, expected: tuple[str, str]
) -> None:
    """A2.14: SERVER_PORT is never "0", even when a client sends port 0 in Host."""
    environ = env(make_scope(server=None, scheme=scheme, headers=[(b"host", host.encode())]))
    assert (environ["SERVER_NAME"], environ["SERVER_PORT"]) == expected
