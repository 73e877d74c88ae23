"""bridge._http: status lines and response headers (checklist A4.2-A4.4, B3.3-B3.4, B4.1-B4.2).

The pure functions first, then (at the end) one request through each adapter for
the header shapes asgiref and a2wsgi users send: ``[name, value]`` lists.
"""

from __future__ import annotations

from collections import UserList
from collections.abc import Iterator, Sequence
from http import HTTPStatus
from typing import Any, NamedTuple

import pytest
from asgi_client import Client, serve
from hypothesis import given
from hypothesis import strategies as st
from wsgi_driver import call_wsgi

from bridge import AsgiToWsgi, WsgiToAsgi
from bridge._http import (
    HOP_BY_HOP,
    check_asgi_status,
    decode_asgi_headers,
    encode_wsgi_headers,
    parse_status,
    status_line,
)

HOP_BY_HOP_NAMES = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
]

TOKEN_CHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
# Field-value characters a header may carry: HTAB, SP, VCHAR and obs-text (0x80-0xFF).
CLEAN_VALUE_CHARS = (
    "\t" + "".join(chr(c) for c in range(0x20, 0x7F)) + "".join(chr(c) for c in range(0x80, 0x100))
)
CONTROL_CHARS = [chr(c) for c in range(0x00, 0x20) if c != 0x09] + ["\x7f"]

token_names = st.text(alphabet=TOKEN_CHARS, min_size=1, max_size=20).filter(
    lambda n: n.lower() not in HOP_BY_HOP
)
clean_values = st.text(alphabet=CLEAN_VALUE_CHARS, max_size=40)


# ---------------------------------------------------------------- parse_status (A4.2)


@pytest.mark.parametrize(
    ("line", "code"),
    [
        ("200 OK", 200),
        ("404 Not Found", 404),
        ("500 Internal Server Error", 500),
        ("299 Whatever I Like", 299),
        ("599 ", 599),  # empty reason phrase
        ("200 ", 200),
        ("201 Cr\xe9\xe9", 201),  # latin-1 reason phrase
        ("302 Found\twith tab", 302),
    ],
)
def test_parse_status_valid(line: str, code: int) -> None:
    assert parse_status(line) == code
    assert type(parse_status(line)) is int


@pytest.mark.parametrize(
    "line",
    [
        "200",
        "200OK",
        " 200 OK",
        "20 OK",
        "2000 OK",
        "200\tOK",
        "abc OK",
        "",
        "OK 200",
        "\uff12\uff10\uff10 OK",  # full-width digits are not ASCII digits
        "200 OK\r\nX-Injected: 1",
        "200 OK\r",
        "200 OK\n",
        "200 O\x00K",
        "200 O\x01K",
        "200 O\x7fK",
    ],
)
def test_parse_status_rejects_bad_shapes_and_controls(line: str) -> None:
    with pytest.raises(ValueError):
        parse_status(line)


@pytest.mark.parametrize("line", ["100 Continue", "101 Switching Protocols", "103 Early Hints"])
def test_parse_status_rejects_informational(line: str) -> None:
    with pytest.raises(ValueError):
        parse_status(line)


@pytest.mark.parametrize("value", [b"200 OK", 200, None, ["200 OK"], bytearray(b"200 OK")])
def test_parse_status_rejects_non_str(value: object) -> None:
    with pytest.raises(TypeError):
        parse_status(value)


@given(st.text(max_size=30))
def test_parse_status_fuzz_only_raises_value_error(line: str) -> None:
    try:
        code = parse_status(line)
    except ValueError:
        return
    assert 200 <= code <= 999
    assert line[:3] == str(code)
    assert line[3] == " "
    assert not any(ch in line for ch in CONTROL_CHARS)


# ---------------------------------------------------------------- status_line (B4.1)


@pytest.mark.parametrize(
    ("code", "line"),
    [
        (200, "200 OK"),
        (201, "201 Created"),
        (204, "204 No Content"),
        (301, "301 Moved Permanently"),
        (404, "404 Not Found"),
        (500, "500 Internal Server Error"),
        (503, "503 Service Unavailable"),
    ],
)
def test_status_line_known(code: int, line: str) -> None:
    assert status_line(code) == line


@pytest.mark.parametrize("status", [s for s in HTTPStatus if 200 <= s.value <= 599])
def test_status_line_uses_http_status_phrase(status: HTTPStatus) -> None:
    assert status_line(status.value) == f"{status.value} {status.phrase}"


@pytest.mark.parametrize("code", [299, 599, 520, 342, 222])
def test_status_line_unknown(code: int) -> None:
    assert code not in {s.value for s in HTTPStatus}
    assert status_line(code) == f"{code} Unknown"


@given(st.integers(min_value=200, max_value=599))
def test_status_round_trip(code: int) -> None:
    line = status_line(code)
    assert line.startswith(f"{code} ")
    assert parse_status(line) == code


# ---------------------------------------------------------------- check_asgi_status (B3.3)


@pytest.mark.parametrize("status", [200, 204, 404, 599])
def test_check_asgi_status_accepts_int_in_range(status: int) -> None:
    assert check_asgi_status(status) == status


def test_check_asgi_status_accepts_int_enum() -> None:
    # HTTPStatus members are ints (Starlette puts a user's `status_code` into the
    # message unchanged); only bool is excluded among int subclasses (B3.3).
    assert check_asgi_status(HTTPStatus.CREATED) == 201
    assert status_line(check_asgi_status(HTTPStatus.NOT_FOUND)) == "404 Not Found"


@pytest.mark.parametrize("status", [True, False, "200", 200.0, None, b"200"])
def test_check_asgi_status_rejects_non_int(status: object) -> None:
    with pytest.raises(TypeError):
        check_asgi_status(status)


@pytest.mark.parametrize("status", [100, 101, 103, 199, 600, 0, -200, 1000])
def test_check_asgi_status_rejects_out_of_range(status: int) -> None:
    with pytest.raises(ValueError):
        check_asgi_status(status)


# ---------------------------------------------------------------- encode_wsgi_headers (A4.3-A4.4)


def test_encode_lowercases_names_and_keeps_order() -> None:
    headers = [("Content-Type", "text/plain"), ("X-Thing", "A"), ("x-thing", "B")]
    assert encode_wsgi_headers(headers) == [
        (b"content-type", b"text/plain"),
        (b"x-thing", b"A"),
        (b"x-thing", b"B"),
    ]


def test_encode_empty_list() -> None:
    assert encode_wsgi_headers([]) == []


def test_encode_latin1_value() -> None:
    assert encode_wsgi_headers([("X-Name", "café")]) == [(b"x-name", b"caf\xe9")]
    assert encode_wsgi_headers([("X-Obs", "\x80\xff")]) == [(b"x-obs", b"\x80\xff")]


@pytest.mark.parametrize("value", ["\u0100", "caf\u00e9\u0100", "snow \u2603", "\U0001f600"])
def test_encode_rejects_code_points_above_latin1(value: str) -> None:
    with pytest.raises(ValueError):
        encode_wsgi_headers([("X-Name", value)])


@pytest.mark.parametrize("char", CONTROL_CHARS)
def test_encode_rejects_control_characters_in_values(char: str) -> None:
    with pytest.raises(ValueError):
        encode_wsgi_headers([("X-Name", f"a{char}b")])


def test_encode_rejects_crlf_injection() -> None:
    with pytest.raises(ValueError):
        encode_wsgi_headers([("Location", "/x\r\nSet-Cookie: evil=1")])


def test_encode_allows_htab_and_space_in_values() -> None:
    assert encode_wsgi_headers([("X-Name", "a\tb c")]) == [(b"x-name", b"a\tb c")]


def test_encode_strips_surrounding_whitespace_from_values() -> None:
    # Django's WSGI handler sends " name=value; Path=/" for each Set-Cookie; h11 refuses
    # a value that starts with a space, so uvicorn used to drop the connection.
    headers = [("Set-Cookie", " first=1; Path=/"), ("X-Name", "\ta b \t"), ("X-Empty", "  ")]
    assert encode_wsgi_headers(headers) == [
        (b"set-cookie", b"first=1; Path=/"),
        (b"x-name", b"a b"),
        (b"x-empty", b""),
    ]


@pytest.mark.parametrize(
    "name",
    ["", "Bad Name", "X:Y", ":status", "X-Name\r\n", "caf\xe9", "a\tb", "(x)", "a/b", "x\x00"],
)
def test_encode_rejects_non_token_names(name: str) -> None:
    with pytest.raises(ValueError):
        encode_wsgi_headers([(name, "v")])


@pytest.mark.parametrize("name", HOP_BY_HOP_NAMES)
def test_encode_drops_hop_by_hop(name: str) -> None:
    headers = [("X-Before", "1"), (name, "value"), (name.title(), "value"), ("X-After", "2")]
    assert encode_wsgi_headers(headers) == [(b"x-before", b"1"), (b"x-after", b"2")]


@pytest.mark.parametrize(
    "headers",
    [
        (("Content-Type", "text/plain"),),  # a tuple, not a list
        {"Content-Type": "text/plain"},
        None,
        "Content-Type: text/plain",
        iter([("Content-Type", "text/plain")]),
    ],
)
def test_encode_rejects_non_list(headers: object) -> None:
    with pytest.raises(TypeError):
        encode_wsgi_headers(headers)


@pytest.mark.parametrize(
    "item",
    [
        ("Content-Type",),
        ("Content-Type", "text/plain", "extra"),
        ["Content-Type"],
        ["Content-Type", "text/plain", "extra"],
        [],
        "Content-Type",
        "ab",  # a 2-item sequence of str, but a str is never a pair
        b"ab",
        bytearray(b"ab"),
        memoryview(b"ab"),  # a Sequence, of ints
        {"Content-Type", "text/plain"},  # not a Sequence: no order
        {"Content-Type": "text/plain"},
        iter(("Content-Type", "text/plain")),
        (b"Content-Type", "text/plain"),
        ("Content-Type", b"text/plain"),
        ("Content-Length", 5),
        (None, "x"),
        [b"Content-Type", "text/plain"],
        ["Content-Type", b"text/plain"],
        ["Content-Length", 5],
        None,
    ],
)
def test_encode_rejects_bad_items(item: object) -> None:
    with pytest.raises(TypeError, match="WSGI response header"):
        encode_wsgi_headers([item])


class PairView(Sequence[str]):
    """A read-only 2-item Sequence that is neither a tuple nor a list."""

    def __init__(self, name: str, value: str) -> None:
        self._items = (name, value)

    def __len__(self) -> int:
        return 2

    def __getitem__(self, index: Any) -> Any:
        return self._items[index]


class Pair(NamedTuple):
    """A tuple subclass, as some apps build their headers."""

    name: str
    value: str


def test_encode_accepts_any_two_item_sequence_of_str() -> None:
    """A4.3: asgiref and a2wsgi take ``["X-Colour", "Blue"]``; so does the bridge."""
    expected = [(b"content-type", b"text/plain"), (b"x-colour", b"Blue")]
    for shape in (tuple, list, UserList, lambda p: PairView(*p), lambda p: Pair(*p)):
        headers = [shape(("Content-Type", "text/plain")), shape(("X-Colour", " Blue "))]
        assert encode_wsgi_headers(headers) == expected, shape
    mixed = [("Content-Type", "text/plain"), ["X-Colour", "Blue"]]
    assert encode_wsgi_headers(mixed) == expected


@pytest.mark.parametrize(
    ("item", "error"),
    [
        (["X-A", "a\r\nSet-Cookie: evil=1"], ValueError),  # response splitting
        (["X-A", "a\x00b"], ValueError),
        (["X-A", "\u0100"], ValueError),  # not latin-1
        (["X A", "v"], ValueError),  # not a token
        (["", "v"], ValueError),  # empty name
        (UserList(["X:Y", "v"]), ValueError),
        (PairView("X-A", "a\nb"), ValueError),
    ],
)
def test_encode_validates_list_entries_like_tuples(item: Sequence[str], error: type) -> None:
    """A4.3: a list entry gets every check a tuple gets."""
    with pytest.raises(error):
        encode_wsgi_headers([item])
    with pytest.raises(error):
        encode_wsgi_headers([(item[0], item[1])])


def test_encode_drops_hop_by_hop_and_counts_bytes_for_list_entries() -> None:
    """A4.4 and max_response_header_bytes hold for list entries too."""
    headers = [["Connection", "close"], ["Transfer-Encoding", "chunked"], ["X-Ok", "1"]]
    assert encode_wsgi_headers(headers) == [(b"x-ok", b"1")]
    with pytest.raises(ValueError, match="max_response_header_bytes=10"):
        encode_wsgi_headers([["X-Big", "b" * 6]], 10)
    assert encode_wsgi_headers([["X-Big", "b" * 5]], 10) == [(b"x-big", b"bbbbb")]


# ---------------------------------------------------------------- decode_asgi_headers (B3.4, B4.2)


def test_decode_bytes_pairs() -> None:
    headers = [(b"content-type", b"text/plain"), [b"x-a", b"caf\xe9"], (b"x-a", b"2")]
    assert decode_asgi_headers(headers) == [
        ("content-type", "text/plain"),
        ("x-a", "café"),
        ("x-a", "2"),
    ]
    for name, value in decode_asgi_headers(headers):
        assert type(name) is str
        assert type(value) is str


def test_decode_accepts_lists_and_any_two_item_iterable() -> None:
    """B3.4: the spec's headers are an iterable of [name, value] iterables of bytes."""
    expected = [("content-type", "text/plain"), ("x-colour", "Blue")]
    as_tuples = [(b"content-type", b"text/plain"), (b"x-colour", b"Blue")]
    as_lists = [[b"content-type", b"text/plain"], [b"x-colour", b"Blue"]]

    def pairs() -> Iterator[Iterator[bytes]]:
        for name, value in as_tuples:
            yield iter((name, value))

    for headers in (as_tuples, as_lists, tuple(as_lists), iter(as_lists), pairs()):
        assert decode_asgi_headers(headers) == expected
    # Lists get every check tuples get.
    with pytest.raises(ValueError):
        decode_asgi_headers([[b"x-a", b"a\r\nb"]])
    with pytest.raises(ValueError):
        decode_asgi_headers([[b":status", b"200"]])
    with pytest.raises(TypeError):
        decode_asgi_headers([[b"x-a", b"1", b"2"]])
    assert decode_asgi_headers([[b"connection", b"close"], [b"x-a", b"1"]]) == [("x-a", "1")]


def test_decode_accepts_bytearray() -> None:
    assert decode_asgi_headers([(bytearray(b"x-a"), bytearray(b"1"))]) == [("x-a", "1")]
    assert decode_asgi_headers([(b"x-a", bytearray(b"1"))]) == [("x-a", "1")]


def test_decode_none_and_empty() -> None:
    assert decode_asgi_headers(None) == []
    assert decode_asgi_headers([]) == []


@pytest.mark.parametrize(
    "item",
    [
        ("x-a", "1"),
        (b"x-a", "1"),
        ("x-a", b"1"),
        (b"x-a", 1),
        (b"x-a",),
        (b"x-a", b"1", b"2"),
        b"x-a",
        None,
    ],
)
def test_decode_rejects_non_bytes(item: object) -> None:
    with pytest.raises(TypeError):
        decode_asgi_headers([item])


@pytest.mark.parametrize("headers", [5, object()])
def test_decode_rejects_non_iterable(headers: object) -> None:
    with pytest.raises(TypeError):
        decode_asgi_headers(headers)


@pytest.mark.parametrize("char", [b"\r", b"\n", b"\x00", b"\r\n"])
def test_decode_rejects_crlf_nul_in_value(char: bytes) -> None:
    with pytest.raises(ValueError):
        decode_asgi_headers([(b"x-a", b"a" + char + b"b")])


@pytest.mark.parametrize("char", [b"\r", b"\n", b"\x00", b" ", b":"])
def test_decode_rejects_bad_name(char: bytes) -> None:
    with pytest.raises(ValueError):
        decode_asgi_headers([(b"x-a" + char + b"b", b"1")])


@pytest.mark.parametrize("name", [b":status", b":path", b""])
def test_decode_rejects_pseudo_and_empty_names(name: bytes) -> None:
    with pytest.raises(ValueError):
        decode_asgi_headers([(name, b"200")])


@pytest.mark.parametrize("name", HOP_BY_HOP_NAMES)
def test_decode_drops_hop_by_hop(name: str) -> None:
    raw = name.encode("ascii")
    headers = [(b"x-before", b"1"), (raw, b"v"), (raw.upper(), b"v"), (b"x-after", b"2")]
    decoded = decode_asgi_headers(headers)
    assert [(n.lower(), v) for n, v in decoded] == [("x-before", "1"), ("x-after", "2")]


# ---------------------------------------------------------------- properties


@given(st.lists(st.tuples(token_names, clean_values, st.booleans()), max_size=10))
def test_encode_then_decode_round_trip(drawn: list[tuple[str, str, bool]]) -> None:
    # Each entry a (name, value) tuple or a [name, value] list, as asgiref and a2wsgi allow.
    headers = [[n, v] if as_list else (n, v) for n, v, as_list in drawn]
    encoded = encode_wsgi_headers(headers)
    assert all(type(n) is bytes and type(v) is bytes for n, v in encoded)
    assert [n for n, _ in encoded] == [n.lower().encode("ascii") for n, _, _ in drawn]
    assert decode_asgi_headers(encoded) == [(n.lower(), v.strip(" \t")) for n, v, _ in drawn]
    # The same headers as ASGI lists decode the same.
    assert decode_asgi_headers([list(pair) for pair in encoded]) == decode_asgi_headers(encoded)


@given(st.lists(st.tuples(st.sampled_from(HOP_BY_HOP_NAMES), clean_values), max_size=5))
def test_encode_never_forwards_hop_by_hop(headers: list[tuple[str, str]]) -> None:
    mixed = [(n.upper(), v) for n, v in headers]
    assert encode_wsgi_headers(headers) == []
    assert encode_wsgi_headers(mixed) == []


anything = st.one_of(
    st.text(max_size=10),
    st.binary(max_size=10),
    st.integers(),
    st.none(),
    st.booleans(),
    st.floats(allow_nan=True),
)
wsgi_header_items = st.one_of(
    st.tuples(st.text(max_size=12), st.text(max_size=12)),
    st.lists(st.text(max_size=12), min_size=2, max_size=2),
    st.tuples(anything, anything),
    st.lists(anything, max_size=3),
    anything,
)
asgi_header_items = st.one_of(
    st.tuples(st.binary(max_size=12), st.binary(max_size=12)),
    st.lists(st.binary(max_size=12), max_size=3),
    st.tuples(anything, anything),
    anything,
)


@given(st.one_of(st.lists(wsgi_header_items, max_size=5), anything))
def test_encode_fuzz_only_type_or_value_errors(headers: object) -> None:
    try:
        out = encode_wsgi_headers(headers)
    except (TypeError, ValueError):
        return
    for name, value in out:
        assert type(name) is bytes
        assert type(value) is bytes
        assert name == name.lower()
        assert b"\r" not in value
        assert b"\n" not in value
        assert b"\x00" not in value
        assert name.decode("ascii").lower() not in HOP_BY_HOP


@given(st.one_of(st.lists(asgi_header_items, max_size=5), anything))
def test_decode_fuzz_only_type_or_value_errors(headers: object) -> None:
    try:
        out = decode_asgi_headers(headers)
    except (TypeError, ValueError):
        return
    for name, value in out:
        assert type(name) is str
        assert type(value) is str
        assert all(ord(c) <= 0xFF for c in name + value)
        assert not any(c in value for c in "\r\n\x00")
        assert not name.startswith(":")
        assert name.lower() not in HOP_BY_HOP


# ---------------------------------------------------------------- end to end


@pytest.mark.anyio
async def test_w2a_sends_list_header_entries_and_refuses_bad_ones() -> None:
    """A4.3: a WSGI app's ``[name, value]`` lists reach the ASGI server, validated."""

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        value = "Blue\r\nSet-Cookie: evil=1" if environ["PATH_INFO"] == "/bad" else "Blue"
        start_response("200 OK", [["Content-Type", "text/plain"], ["X-Colour", value]])
        return [b"ok"]

    client = Client()
    await serve(WsgiToAsgi(app), client, validate=True)
    assert client.status == 200 and client.body == b"ok"
    sent_headers = client.sent[0]["headers"]
    assert sent_headers[:2] == [(b"content-type", b"text/plain"), (b"x-colour", b"Blue")]

    # Response splitting through a list entry: start_response raises inside the app,
    # the error leaves the ASGI call (the server answers 500) and nothing was sent.
    client = Client()
    with pytest.raises(ValueError, match="X-Colour"):
        await serve(WsgiToAsgi(app), client, path="/bad")
    assert client.sent == []


def test_a2w_takes_asgi_headers_as_lists() -> None:
    """B3.4: an ASGI app's headers as a list of [name, value] lists reach the WSGI server."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        headers = [[b"content-type", b"text/plain"], [b"x-colour", b"Blue"]]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"ok"})

    bridged = AsgiToWsgi(app, lifespan="off")
    try:
        result = call_wsgi(bridged)  # through wsgiref.validate, which wants (str, str) tuples
    finally:
        bridged.close()
    assert result.status == "200 OK" and result.body == b"ok"
    assert ("x-colour", "Blue") in result.headers
    assert ("content-type", "text/plain") in result.headers
