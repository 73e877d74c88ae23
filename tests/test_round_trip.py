"""Round trips through both bridges behave like the app alone (a first cut of issue 4's P3).

`AsgiToWsgi(WsgiToAsgi(w))` is compared with `w`, and `WsgiToAsgi(AsgiToWsgi(a))` with
`a`, with `workers=1` so that nesting the two thread/loop hops cannot deadlock.
Documented normalisations: header names come back lowercased, and a list
response gains a `content-length` header.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from typing import Any

import anyio
import pytest
from asgi_scope import http_scope
from asgi_validator import AsgiValidator, validating_app
from wsgi_driver import call_wsgi

from bridge import AsgiToWsgi, WsgiToAsgi

pytestmark = pytest.mark.timeout(60)


def wsgi_app(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
    length = int(environ.get("CONTENT_LENGTH") or 0)  # read(size): PEP 3333's portable form
    body = environ["wsgi.input"].read(length) if length else b""
    path = environ["PATH_INFO"]
    if path == "/error":
        start_response("200 OK", [("Content-Type", "text/plain")])
        try:
            raise ValueError("handled")
        except ValueError:
            import sys

            start_response(
                "503 Service Unavailable", [("Content-Type", "text/plain")], sys.exc_info()
            )
        return iter([b"try later"])
    start_response(
        "201 Created",
        [("Content-Type", "text/plain"), ("X-Path", path), ("X-Query", environ["QUERY_STRING"])],
    )
    digest = hashlib.sha256(body).hexdigest().encode()

    def chunks() -> Iterator[bytes]:
        yield b"len=%d;" % len(body)
        yield b""
        yield digest

    return chunks()


def normalise(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return sorted((k.lower(), v) for k, v in headers if k.lower() != "content-length")


CASES = [
    ("GET", "/plain", "a=1&b=%C3%A9", b""),
    ("POST", "/upload", "", b"x" * 300_000),
    ("PUT", "/caf\xc3\xa9", "q", b"line\n" * 10),
    ("GET", "/error", "", b""),
]


@pytest.mark.parametrize(("method", "path", "query", "body"), CASES)
def test_wsgi_app_through_both_bridges_is_unchanged(
    make_adapter: Callable[..., AsgiToWsgi], method: str, path: str, query: str, body: bytes
) -> None:
    overrides = {"PATH_INFO": path, "QUERY_STRING": query}
    direct = call_wsgi(wsgi_app, method=method, body=body, environ_overrides=overrides)
    validators: list[AsgiValidator] = []  # P4: every message between the bridges checked
    nested = make_adapter(validating_app(WsgiToAsgi(wsgi_app, workers=1), validators))
    bridged = call_wsgi(nested, method=method, body=body, environ_overrides=overrides, catch=True)
    if path == "/error":
        # Issue 13: the exception the app reported with exc_info is not lost in the
        # round trip: it comes out of close(), after the whole replaced response.
        assert direct.exc_info_passed and isinstance(bridged.close_error, ValueError)
    else:
        assert bridged.close_error is None
    assert bridged.status == direct.status
    assert normalise(bridged.headers) == normalise(direct.headers)
    assert bridged.body == direct.body
    assert [v.kind for v in validators] == ["lifespan", "http"]  # lifespan is checked too
    assert all(v.complete for v in validators)


async def asgi_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    headers = [
        (b"content-type", b"text/plain"),
        (b"x-path", scope["path"].encode()),
        (b"x-query", scope["query_string"]),
    ]
    await send({"type": "http.response.start", "status": 202, "headers": headers})
    await send({"type": "http.response.body", "body": b"len=%d;" % len(body), "more_body": True})
    await send({"type": "http.response.body", "body": hashlib.sha256(body).hexdigest().encode()})


async def run_asgi(
    app: Any, method: str, path: str, query: bytes, body: bytes
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    pieces = [body[i : i + 65536] for i in range(0, len(body), 65536)] or [b""]
    messages = [
        {"type": "http.request", "body": piece, "more_body": i < len(pieces) - 1}
        for i, piece in enumerate(pieces)
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop(0)
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = http_scope(
        method=method,
        path=path,
        raw_path=path.encode(),
        query_string=query,
        client=("127.0.0.1", 1),
        server=("127.0.0.1", 80),
        headers=[(b"host", b"example.org"), (b"content-length", str(len(body)).encode())],
    )
    validator = AsgiValidator(scope)  # P4: what the app sends and receives is checked
    checked_receive, checked_send = validator.wrap(receive, send)
    with anyio.fail_after(30):
        await app(scope, checked_receive, checked_send)
    validator.finish()
    start = sent[0]
    body_out = b"".join(m.get("body", b"") for m in sent[1:])
    assert sent[-1].get("more_body", False) is False
    return start["status"], sorted(start["headers"]), body_out


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("method", "path", "query", "body"),
    [
        ("GET", "/plain", b"a=1", b""),
        ("POST", "/upload", b"", b"y" * 300_000),
    ],
)
async def test_asgi_app_through_both_bridges_is_unchanged(
    method: str, path: str, query: bytes, body: bytes
) -> None:
    direct = await run_asgi(asgi_app, method, path, query, body)
    inner_validators: list[AsgiValidator] = []  # P4: what AsgiToWsgi gives the app
    inner = AsgiToWsgi(validating_app(asgi_app, inner_validators))
    try:
        bridged = await run_asgi(WsgiToAsgi(inner, workers=1), method, path, query, body)
    finally:
        await anyio.to_thread.run_sync(inner.close)
    assert bridged == direct
    assert [v.kind for v in inner_validators] == ["lifespan", "http"]
    assert all(v.complete for v in inner_validators)
