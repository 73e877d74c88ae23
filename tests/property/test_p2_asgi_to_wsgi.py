"""P2 (issue 4): an ASGI app called directly == the same app through AsgiToWsgi.

Hypothesis draws responses (status, header byte pairs, chunking with empty
chunks, `more_body` flags) and request bodies split into chunks; the app echoes
a digest of what `receive()` gave it. Driven directly as ASGI and, through the
bridge, as WSGI behind `wsgiref.validate`. Documented normalisations: header
bytes become latin-1 str, statuses become "NNN Phrase".
"""

from __future__ import annotations

import asyncio
import hashlib
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from wsgiref.validate import validator

import pytest
from asgi_validator import AsgiValidator, validating_app
from drivers import (
    PartsInput,
    body_of,
    drive_asgi,
    environ_for,
    note_classes,
    scope_for,
    scope_view,
    serve_wsgi,
)
from hypothesis import example, given
from hypothesis import strategies as st
from strategies import AsgiBehaviour, Request, asgi_behaviours, make_asgi_app, requests

from bridge import AsgiToWsgi

# wsgiref.validate wants names that start with a letter and do not end in "-"
# (stricter than HTTP's token rule, which the bridge itself enforces).
token = st.from_regex(r"[a-z]([a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True).filter(
    lambda s: (
        s
        not in {
            "connection",
            "content-length",
            "transfer-encoding",
            "te",
            "trailer",
            "upgrade",
            "keep-alive",
            "content-type",
        }
    )
)
value = st.binary(max_size=20).map(lambda v: bytes(c for c in v if c >= 0x20 and c != 0x7F))


@dataclass
class Response:
    status: int
    headers: list[tuple[bytes, bytes]]
    chunks: list[bytes]


responses = st.builds(
    Response,
    status=st.sampled_from([200, 201, 202, 299, 301, 400, 404, 418, 500, 599]),
    headers=st.lists(st.tuples(token.map(str.encode), value), max_size=5),
    chunks=st.lists(st.binary(max_size=200), max_size=6),
)


def make_app(r: Response) -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        received = b""
        while True:
            message = await receive()
            received += message["body"]
            if not message["more_body"]:
                break
        headers = [(b"content-type", b"text/plain"), *r.headers]
        await send({"type": "http.response.start", "status": r.status, "headers": headers})
        await send(
            {
                "type": "http.response.body",
                "body": hashlib.sha256(received).digest(),
                "more_body": True,
            }
        )
        for chunk in r.chunks:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    return app


async def direct(app: Any, body_parts: list[bytes]) -> tuple[int, list[Any], bytes]:
    messages = [
        {"type": "http.request", "body": p, "more_body": i < len(body_parts) - 1}
        for i, p in enumerate(body_parts)
    ] or [{"type": "http.request", "body": b"", "more_body": False}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app({"type": "http", "method": "POST", "path": "/", "headers": []}, receive, send)
    return sent[0]["status"], sent[0]["headers"], b"".join(m["body"] for m in sent[1:])


@pytest.fixture(scope="module")
def adapter_pair() -> Iterator[dict[int, AsgiToWsgi]]:
    cache: dict[int, AsgiToWsgi] = {}
    yield cache
    for adapter in cache.values():
        adapter.close()


@given(responses, st.lists(st.binary(max_size=500), max_size=5))
def test_p2_same_status_headers_and_body(r: Response, body_parts: list[bytes]) -> None:
    app = make_app(r)
    status, headers, body = asyncio.run(direct(app, body_parts))
    state: dict[str, Any] = {}

    def start_response(s: str, h: list[tuple[str, str]], exc_info: Any = None) -> Any:
        state["status"], state["headers"] = s, h
        return lambda data: None

    total = sum(len(p) for p in body_parts)
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/",
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "SERVER_NAME": "x",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "CONTENT_LENGTH": str(total),
        "wsgi.input": PartsInput(body_parts),
        "wsgi.errors": sys.stderr,
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    with AsgiToWsgi(app, lifespan="off") as adapter:
        iterable = validator(adapter)(environ, start_response)
        try:
            bridged_body = b"".join(iterable)
        finally:
            iterable.close()
    assert int(state["status"][:3]) == status
    assert state["status"][3] == " " and len(state["status"]) > 4
    assert sorted(state["headers"]) == sorted(
        (k.decode("latin-1"), v.decode("latin-1")) for k, v in headers
    )
    assert bridged_body == body


# -- widened: drawn requests and app behaviours, compared with what the app observes -----


@pytest.fixture(scope="module")
def file_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tmp_path_factory.mktemp("p2") / "pathsend.bin")


@pytest.mark.filterwarnings("ignore::wsgiref.validate.WSGIWarning")
@given(requests(), asgi_behaviours)
@example(  # an empty more_body=True body, then a failure: raised before any byte went out
    Request("GET", b"", b"", b"", [], b"", [b""], False, "http", "1.0"),
    AsgiBehaviour(200, [], [b"", b""], "body", "all", 1),
)
def test_p2_asgi_app_direct_and_through_asgi_to_wsgi(
    file_path: str, r: Request, b: AsgiBehaviour
) -> None:
    """Same scope keys (N7), same request bytes from receive() (N8), same response.

    The WSGI side runs behind wsgiref.validate, and every message the app gets
    from or gives to AsgiToWsgi passes the P4 ASGI validator. Normalisations:
    N3 (the phrase), N4 (a failure before the first body byte is a 500 sent
    with exc_info), N9 (pathsend arrives as the file's bytes), N10.
    """
    with open(file_path, "wb") as file:
        file.write(b"".join(b.chunks))
    seen_direct: list[Any] = []
    seen_bridged: list[Any] = []
    validators: list[AsgiValidator] = []
    direct = asyncio.run(
        drive_asgi(make_asgi_app(b, seen_direct, file_path), scope_for(r), r.parts)
    )
    with AsgiToWsgi(
        validating_app(make_asgi_app(b, seen_bridged, file_path), validators), lifespan="off"
    ) as adapter:
        bridged = serve_wsgi(validator(adapter), environ_for(r))

    assert len(seen_direct) == len(seen_bridged) == 1 == len(validators)
    (d_scope, d_received), (b_scope, b_received) = seen_direct[0], seen_bridged[0]
    assert scope_view(b_scope) == scope_view(d_scope)
    assert b_scope["extensions"]["http.response.pathsend"] == {}
    d_body, d_done = body_of(d_received)
    b_body, b_done = body_of(b_received)
    if b.read == "all":
        assert b_body == d_body == r.body and b_done and d_done
    elif b.read == "first":
        assert d_body.startswith(b_body) or b_body.startswith(d_body)

    if direct.error is not None and not direct.body:
        note_classes(r, b.style, b.fail, "500")
        if bridged.failed_early:  # it raised from the iterator before any byte: server's 500
            assert b.fail not in ("before_start", "after_start")
        else:  # AsgiToWsgi's own 500, with exc_info
            assert bridged.status == 500 and bridged.error is None
            assert bridged.body == b"Internal Server Error"
        return
    note_classes(r, b.style, b.fail, "cut" if direct.error else "ok")
    assert bridged.status == direct.status
    assert bridged.body == direct.body
    assert bridged.error is direct.error
    assert sorted(bridged.headers) == sorted(
        (k.decode("latin-1"), v.decode("latin-1")) for k, v in direct.headers
    )
