"""P1 (issue 4): a WSGI app called directly == the same app through WsgiToAsgi.

Hypothesis draws app behaviours: any status (204/304 and unusual codes
included), header lists, bodies split into chunks (empty ones included) and
delivered as a list, a generator, through write(), or through
wsgi.file_wrapper, optionally after an exc_info replacement. The direct run
uses a plain PEP 3333 driver; the bridged run drives WsgiToAsgi as an ASGI
server would. Documented normalisations: header names are lowercased, and a
list or tuple response gains a content-length header (not for HEAD/204/304).
"""

from __future__ import annotations

import io
import sys
from dataclasses import dataclass
from typing import Any

import anyio
from asgi_scope import http_scope
from hypothesis import given
from hypothesis import strategies as st

from bridge import WsgiToAsgi

STATUSES = [200, 201, 204, 206, 299, 301, 304, 400, 404, 418, 451, 500, 503, 599]
token = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-", min_size=1, max_size=12
).filter(
    lambda s: (
        s.lower()
        not in {
            "connection",
            "content-length",
            "transfer-encoding",
            "te",
            "trailer",
            "upgrade",
            "keep-alive",
        }
    )
)
value = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"),
    max_size=20,
)


@dataclass
class Behaviour:
    status: int
    reason: str
    headers: list[tuple[str, str]]
    chunks: list[bytes]
    style: str  # list | generator | write | file_wrapper
    replace_with: int | None  # exc_info replacement status, before any body


behaviours = st.builds(
    Behaviour,
    status=st.sampled_from(STATUSES),
    reason=st.sampled_from(["OK", "Whatever", "Caf\xe9"]),
    headers=st.lists(st.tuples(token, value), max_size=6),
    chunks=st.lists(st.binary(max_size=300), max_size=8),
    style=st.sampled_from(["list", "generator", "write", "file_wrapper"]),
    replace_with=st.one_of(st.none(), st.sampled_from([500, 503])),
)


def make_app(b: Behaviour) -> Any:
    def app(environ: dict[str, Any], start_response: Any) -> Any:
        write = start_response(f"{b.status} {b.reason}", list(b.headers))
        if b.replace_with is not None:
            try:
                raise RuntimeError("replaced")
            except RuntimeError:
                write = start_response(
                    f"{b.replace_with} Replaced", list(b.headers), sys.exc_info()
                )
        if b.style == "list":
            return list(b.chunks)
        if b.style == "generator":
            return (chunk for chunk in b.chunks)
        if b.style == "write":
            for chunk in b.chunks:
                write(chunk)
            return []
        return environ["wsgi.file_wrapper"](io.BytesIO(b"".join(b.chunks)), 64)

    return app


def direct(app: Any) -> tuple[int, list[tuple[str, str]], bytes]:
    """A minimal PEP 3333 server: the reference the bridge is compared with."""
    state: dict[str, Any] = {}
    written: list[bytes] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        state["status"], state["headers"] = status, headers
        return written.append

    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/",
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "SERVER_NAME": "x",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.input": io.BytesIO(),
        "wsgi.errors": sys.stderr,
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.file_wrapper": lambda f, size=8192: iter(lambda: f.read(size), b""),
    }
    result = app(environ, start_response)
    try:
        body = b"".join(written) + b"".join(result)
    finally:
        getattr(result, "close", lambda: None)()
    return int(state["status"][:3]), state["headers"], body


async def bridged(app: Any) -> tuple[int, list[tuple[bytes, bytes]], bytes, list[dict[str, Any]]]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = http_scope(headers=[], client=None, server=("x", 80))
    with anyio.fail_after(10):
        await WsgiToAsgi(app, workers=2)(scope, receive, send)
    start = sent[0]
    return start["status"], start["headers"], b"".join(m.get("body", b"") for m in sent[1:]), sent


@given(behaviours)
def test_p1_same_status_headers_and_body(b: Behaviour) -> None:
    app = make_app(b)
    status, headers, body = direct(app)
    b_status, b_headers, b_body, messages = anyio.run(bridged, app)
    assert b_status == status
    # Documented normalisation: surrounding spaces/tabs of a value are stripped (RFC 9110 5.5).
    expected = sorted((k.lower().encode(), v.strip(" \t").encode("latin-1")) for k, v in headers)
    got = sorted(h for h in b_headers if h[0] != b"content-length")
    assert got == expected
    assert b_body == body
    # The message sequence itself is well formed (P4's rules, in short).
    assert messages[0]["type"] == "http.response.start"
    assert all(m["type"] == "http.response.body" for m in messages[1:])
    assert messages[-1]["more_body"] is False
    assert all(m["more_body"] is True for m in messages[1:-1])
    assert all(m["body"] for m in messages[1:-1])  # no empty chunks in the middle
