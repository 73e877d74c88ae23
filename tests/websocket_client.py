"""The checks every WebSocket real-server test runs, with the ``websockets`` client.

Shared by tests/test_websocket_wsgi_to_asgi.py and tests/test_websocket_asgi_to_wsgi.py:
each takes a ``ws://`` base URL of a server running one of tests/websocket_apps.py's
apps (they all have the same routes) and asserts on what the client sees.
Every wait is bounded by ``TIMEOUT``. :func:`upgrade_environ` is the WSGI side of an
upgrade request, for the tests that drive AsgiToWsgi without a server.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from typing import Any

import websockets
from websockets.asyncio.client import connect

TIMEOUT = 30.0
SIXTEEN_MIB = 16 * 1024 * 1024


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, TIMEOUT * 2))


def stats(http_url: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{http_url}/stats", timeout=TIMEOUT) as response:
        return dict(json.loads(response.read()))


def wait_for_stats(http_url: str, check: Any, timeout: float = 15) -> dict[str, Any]:
    """Poll /stats until ``check(stats)`` holds (bounded); return the last stats."""
    deadline = time.monotonic() + timeout
    while True:
        current = stats(http_url)
        if check(current) or time.monotonic() > deadline:
            return current
        time.sleep(0.1)  # polling the server's own counters, bounded by the deadline


async def echo_round_trips(
    ws_url: str, big_size: int = SIXTEEN_MIB, *, empty: bool = True
) -> None:
    async with connect(f"{ws_url}/echo", max_size=None, open_timeout=TIMEOUT) as ws:
        await ws.send("héllo wörld")
        assert await ws.recv() == "héllo wörld"
        await ws.send(b"\x00\x01\xfe\xff")
        assert await ws.recv() == b"\x00\x01\xfe\xff"
        if empty:
            await ws.send("")
            assert await ws.recv() == ""
        big = bytes(range(256)) * (big_size // 256)
        await ws.send(big)
        got = await asyncio.wait_for(ws.recv(), TIMEOUT)
        assert len(got) == big_size and got == big
        big_text = "ab€" * 100_000
        await ws.send(big_text)
        assert await ws.recv() == big_text


async def subprotocol_chosen(ws_url: str) -> tuple[str | None, str | None]:
    async with connect(f"{ws_url}/echo", subprotocols=["nope", "chat"]) as ws:
        chosen = ws.subprotocol
        await ws.send("x")
        assert await ws.recv() == "x"
    async with connect(f"{ws_url}/echo", subprotocols=["nope"]) as ws:
        unchosen = ws.subprotocol
    return chosen, unchosen


async def ping_answered(ws_url: str) -> None:
    async with connect(f"{ws_url}/echo", ping_interval=None) as ws:
        for _ in range(3):
            pong = await ws.ping()
            await asyncio.wait_for(pong, TIMEOUT)
        await ws.send("still here")
        assert await ws.recv() == "still here"


async def app_closes(ws_url: str, code: int) -> tuple[int | None, str | None]:
    async with connect(f"{ws_url}/echo") as ws:
        await ws.send(f"close:{code}")
        try:
            await asyncio.wait_for(ws.recv(), TIMEOUT)
        except websockets.ConnectionClosed as closed:
            assert closed.rcvd is not None
            return closed.rcvd.code, closed.rcvd.reason
    raise AssertionError("the app did not close")


async def client_closes(ws_url: str, code: int) -> None:
    async with connect(f"{ws_url}/echo") as ws:
        await ws.send("x")
        assert await ws.recv() == "x"
        await ws.close(code, "client says bye")


async def refused(ws_url: str, path: str = "/private") -> int:
    try:
        async with connect(f"{ws_url}{path}", open_timeout=TIMEOUT):
            pass
    except websockets.InvalidStatus as invalid:
        return int(invalid.response.status_code)
    raise AssertionError("the connection was accepted")


async def app_fails(ws_url: str) -> int | None:
    async with connect(f"{ws_url}/boom") as ws:
        assert await ws.recv() == "about to fail"
        try:
            await asyncio.wait_for(ws.recv(), TIMEOUT)
        except websockets.ConnectionClosed as closed:
            return None if closed.rcvd is None else closed.rcvd.code
    raise AssertionError("the connection stayed open")


async def drop_mid_message(ws_url: str) -> None:
    """Send the first fragment of a message, then cut the TCP connection."""
    async with connect(f"{ws_url}/echo") as ws:
        first_sent = asyncio.Event()
        never = asyncio.Event()

        async def fragments() -> Any:
            yield b"x" * 70_000
            first_sent.set()
            await never.wait()

        sending = asyncio.ensure_future(ws.send(fragments()))
        await asyncio.wait_for(first_sent.wait(), TIMEOUT)
        await asyncio.sleep(0.2)  # let the fragment reach the server before the cut
        ws.transport.abort()
        sending.cancel()
        try:
            await sending
        except (asyncio.CancelledError, websockets.ConnectionClosed):
            pass


async def many_at_once(ws_url: str, count: int) -> int:
    """``count`` connections open together, each echoing; returns how many echoed."""
    opened = [
        await connect(f"{ws_url}/echo", open_timeout=TIMEOUT, ping_interval=None)
        for _ in range(count)
    ]
    try:
        await asyncio.gather(*(ws.send(f"hello {i}") for i, ws in enumerate(opened)))
        replies = await asyncio.gather(*(asyncio.wait_for(ws.recv(), TIMEOUT) for ws in opened))
        return sum(reply == f"hello {i}" for i, reply in enumerate(replies))
    finally:
        await asyncio.gather(*(ws.close() for ws in opened), return_exceptions=True)


def upgrade_environ(**extra: Any) -> dict[str, Any]:
    """The environ of a WebSocket upgrade ``GET /ws``; ``extra`` keys replace or add."""
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "",
        "PATH_INFO": "/ws",
        "QUERY_STRING": "",
        "SERVER_NAME": "example.test",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "example.test",
        "HTTP_UPGRADE": "websocket",
        "HTTP_CONNECTION": "Upgrade",
        "HTTP_SEC_WEBSOCKET_KEY": "dGhlIHNhbXBsZSBub25jZQ==",
        "HTTP_SEC_WEBSOCKET_VERSION": "13",
        "wsgi.url_scheme": "http",
        "wsgi.input": None,
    }
    environ.update(extra)
    return environ
