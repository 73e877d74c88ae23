"""Large bodies cross both bridges in constant memory (issue 2 item 2, issue 3 item 4).

256 MiB go through each direction while tracemalloc watches every Python
allocation; the peak must stay at a few chunks, nowhere near the body size.
Every chunk is a fresh 64 KiB object, so a bridge that kept chunks (or
references to them) would show up as hundreds of MiB of peak.
"""

from __future__ import annotations

import io
import sys
import tracemalloc
from collections.abc import Iterator
from typing import Any

import anyio
import pytest
from asgi_scope import http_scope

from bridge import AsgiToWsgi, WsgiToAsgi

CHUNK = 65536
TOTAL = 256 * 1024 * 1024
BLOCK = b"\xab" * (4 * CHUNK)  # AsgiToWsgi reads up to 256 KiB at a time
PEAK_LIMIT = 4 * 1024 * 1024  # a few chunks of slack; the body is 64x larger


def fresh(size: int = CHUNK) -> bytes:
    """A new bytes object (slicing a whole bytes object would return the same one)."""
    return BLOCK[: size - 1] + b"\xab"


pytestmark = pytest.mark.timeout(120)


class Traced:
    def __enter__(self) -> Traced:
        tracemalloc.start()
        tracemalloc.reset_peak()
        return self

    def __exit__(self, *exc: object) -> None:
        _, self.peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()


@pytest.mark.anyio
async def test_wsgi_to_asgi_upload_and_download_in_constant_memory() -> None:
    chunks_to_send = TOTAL // CHUNK
    received = 0

    def app(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        nonlocal received
        stream = environ["wsgi.input"]
        while data := stream.read(CHUNK):
            received += len(data)
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return (fresh() for _ in range(chunks_to_send))

    remaining = chunks_to_send
    downloaded = 0

    async def receive() -> dict[str, Any]:
        nonlocal remaining
        if remaining:
            remaining -= 1
            return {"type": "http.request", "body": fresh(), "more_body": remaining > 0}
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        nonlocal downloaded
        downloaded += len(message.get("body", b""))

    scope = http_scope(
        method="POST",
        headers=[(b"transfer-encoding", b"chunked")],
        client=None,
        server=("127.0.0.1", 80),
    )
    with Traced() as traced, anyio.fail_after(100):
        await WsgiToAsgi(app)(scope, receive, send)
    assert received == TOTAL and downloaded == TOTAL
    assert traced.peak < PEAK_LIMIT, f"peak {traced.peak} bytes"


class EndlessInput(io.RawIOBase):
    """A wsgi.input that produces `total` bytes without holding them."""

    def __init__(self, total: int) -> None:
        self.left = total

    def read(self, size: int | None = -1) -> bytes:
        size = self.left if size is None or size < 0 else min(size, self.left)
        self.left -= size
        return fresh(size) if size else b""


def test_asgi_to_wsgi_upload_and_download_in_constant_memory() -> None:
    received = 0

    async def app(scope: Any, receive: Any, send: Any) -> None:
        nonlocal received
        if scope["type"] != "http":
            return
        while True:
            message = await receive()
            received += len(message.get("body", b""))
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for _ in range(TOTAL // CHUNK):
            await send({"type": "http.response.body", "body": fresh(), "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    environ = {
        "REQUEST_METHOD": "POST",
        "SCRIPT_NAME": "",
        "PATH_INFO": "/",
        "QUERY_STRING": "",
        "SERVER_NAME": "x",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "CONTENT_LENGTH": str(TOTAL),
        "wsgi.input": EndlessInput(TOTAL),
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
    }
    downloaded = 0
    with AsgiToWsgi(app) as adapter, Traced() as traced:
        iterable = adapter(environ, lambda status, headers, exc_info=None: None)
        try:
            for chunk in iterable:
                downloaded += len(chunk)
        finally:
            iterable.close()  # type: ignore[attr-defined]
    assert received == TOTAL and downloaded == TOTAL
    assert traced.peak < PEAK_LIMIT, f"peak {traced.peak} bytes"
