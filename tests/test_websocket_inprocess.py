"""WebSocket paths of both adapters that need no server: refusals and fallbacks.

Without wsproto, on a host with no socket, and for an ``Upgrade`` that is not a
WebSocket, each adapter answers clearly and never hands the app a broken scope.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
from typing import Any

import pytest
import websocket_client as wsc

from bridge import AsgiToWsgi, WsgiToAsgi
from bridge import _websocket_protocol as protocol
from bridge import _websocket_wsgi_to_asgi as wsgi_side

WAIT = 10.0


class _Recorder:
    """A WSGI ``start_response`` that keeps what it was given."""

    def __init__(self) -> None:
        self.status = ""
        self.headers: list[tuple[str, str]] = []

    def __call__(self, status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        self.status, self.headers = status, headers
        return lambda data: None


def _asgi_app(calls: list[dict[str, Any]]) -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        calls.append(scope)
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"plain http"})
        elif scope["type"] == "websocket":
            await receive()
            await send({"type": "websocket.close"})

    return app


def test_asgi_to_wsgi_upgrade_without_a_socket_is_501_and_the_app_never_sees_it() -> None:
    calls: list[dict[str, Any]] = []
    with AsgiToWsgi(_asgi_app(calls), lifespan="off") as adapter:
        start = _Recorder()
        body = b"".join(adapter(wsc.upgrade_environ(), start))
    assert start.status.startswith("501 ")
    assert b"cannot carry a WebSocket" in body
    assert calls == []


def test_asgi_to_wsgi_without_wsproto_is_501_with_the_install_hint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(protocol, "_IMPORT_ERROR", ImportError("no wsproto"))
    calls: list[dict[str, Any]] = []
    host_end, other_end = socket.socketpair()
    try:
        with AsgiToWsgi(_asgi_app(calls), lifespan="off") as adapter:
            start = _Recorder()
            body = b"".join(adapter(wsc.upgrade_environ(**{"werkzeug.socket": host_end}), start))
    finally:
        host_end.close()
        other_end.close()
    assert start.status.startswith("501 ")
    assert b"wsgi-asgi-bridge[websocket]" in body
    assert calls == []


def test_asgi_to_wsgi_other_upgrades_stay_http() -> None:
    calls: list[dict[str, Any]] = []
    with AsgiToWsgi(_asgi_app(calls), lifespan="off") as adapter:
        start = _Recorder()
        environ = wsc.upgrade_environ(HTTP_UPGRADE="h2c", HTTP_CONNECTION="Upgrade, HTTP2-Settings")
        body = b"".join(adapter(environ, start))
    assert start.status.startswith("200 ") and body == b"plain http"
    assert [scope["type"] for scope in calls] == ["http"]


def test_wsgi_to_asgi_without_wsproto_refuses_and_says_why(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(protocol, "_IMPORT_ERROR", ImportError("no wsproto"))
    monkeypatch.setattr(wsgi_side, "_warned_unavailable", False)
    called: list[bool] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        called.append(True)
        return []

    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "websocket.connect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "websocket",
        "asgi": {"version": "3.0"},
        "path": "/ws",
        "headers": [(b"host", b"example.test")],
        "subprotocols": [],
    }
    with caplog.at_level(logging.ERROR, logger="bridge"):
        asyncio.run(asyncio.wait_for(WsgiToAsgi(app)(scope, receive, send), WAIT))
    assert [message["type"] for message in sent] == ["websocket.close"]  # 403 from the server
    assert called == []
    assert "wsgi-asgi-bridge[websocket]" in caplog.text


def test_wsgi_to_asgi_bad_request_head_is_refused_before_the_app() -> None:
    called: list[bool] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        called.append(True)
        return []

    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "websocket.connect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "websocket",
        "asgi": {"version": "3.0"},
        "path": "/ws",
        "headers": [(b"host", b"example.test"), (b"x-bad", b"a\nb")],
        "subprotocols": [],
        "extensions": {"websocket.http.response": {}},
    }
    asyncio.run(asyncio.wait_for(WsgiToAsgi(app)(scope, receive, send), WAIT))
    assert [message["type"] for message in sent] == [
        "websocket.http.response.start",
        "websocket.http.response.body",
    ]
    assert sent[0]["status"] == 400
    assert called == []


# -- backpressure: an app that stops reading stops the bridge reading -------------------

CHUNK = 64 * 1024
MESSAGES = 200  # 12.5 MiB offered: far beyond what the buffers on the way can hold


@pytest.mark.parametrize("stream", [True, False], ids=["anyio stream", "bare socket"])
def test_wsgi_to_asgi_a_slow_app_stops_the_server_reading(
    stream: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The app accepts and never reads: the bridge takes only what the socket pair's buffer
    holds from the server, then stops calling receive().

    The app speaks wsproto itself: simple-websocket's reader thread would read everything
    into a list of its own, as it does on any WSGI server. Both ways the bridge reads and
    writes its end: through an anyio stream (anyio 4.7 and later) and on the bare socket.
    """
    if not stream:
        import bridge._websocket_wsgi_to_asgi as w2a_websocket

        monkeypatch.setattr(w2a_websocket, "_from_socket", None)
    from wsproto import ConnectionType, WSConnection
    from wsproto.events import AcceptConnection, CloseConnection

    release = threading.Event()

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        sock = environ["werkzeug.socket"]
        server = WSConnection(ConnectionType.SERVER)
        headers = [
            (key[5:].replace("_", "-").lower(), value)
            for key, value in environ.items()
            if key.startswith("HTTP_")
        ]
        server.initiate_upgrade_connection(headers, "/ws")
        list(server.events())
        sock.sendall(server.send(AcceptConnection()))
        release.wait(WAIT)
        with contextlib.suppress(OSError):
            sock.sendall(server.send(CloseConnection(code=1000)))
        start_response("200 OK", [])
        return []

    calls = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal calls
        calls += 1
        if calls == 1:
            return {"type": "websocket.connect"}
        if release.is_set() or calls > MESSAGES:
            await asyncio.sleep(0.05)
            return {"type": "websocket.disconnect", "code": 1000}
        return {"type": "websocket.receive", "bytes": b"x" * CHUNK}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def main() -> int:
        scope = {
            "type": "websocket",
            "asgi": {"version": "3.0"},
            "path": "/ws",
            "headers": [(b"host", b"example.test")],
            "subprotocols": [],
        }
        task = asyncio.ensure_future(WsgiToAsgi(app)(scope, receive, send))
        for _ in range(100):  # bounded: until the receive calls stop growing
            before = calls
            await asyncio.sleep(0.05)
            if calls == before and calls > 1:
                break
        taken = calls
        release.set()
        await asyncio.wait_for(task, WAIT)
        return taken

    taken = asyncio.run(main())
    # The socket pair holds a few hundred KiB: a handful of 64 KiB messages, never all 200.
    assert 1 < taken < MESSAGES // 4, taken
    assert sent[0]["type"] == "websocket.accept"


def test_asgi_to_wsgi_a_slow_app_stops_the_bridge_reading() -> None:
    """The ASGI app accepts and never receives: the bridge reads at most its queue's worth,
    then the client's writes block (TCP's window, here the socket pair's buffer)."""
    from wsproto import ConnectionType, WSConnection
    from wsproto.events import AcceptConnection, Message, Request

    release = threading.Event()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            return
        await receive()
        await send({"type": "websocket.accept"})
        while not release.is_set():
            await asyncio.sleep(0.02)
        await send({"type": "websocket.close", "code": 1000})

    host_end, client_end = socket.socketpair()
    client = WSConnection(ConnectionType.CLIENT)
    request = client.send(Request(host="example.test", target="/ws"))
    key = next(
        line.split(b":", 1)[1].strip().decode()
        for line in request.split(b"\r\n")
        if line.lower().startswith(b"sec-websocket-key:")
    )
    environ = wsc.upgrade_environ(HTTP_SEC_WEBSOCKET_KEY=key, **{"werkzeug.socket": host_end})
    errors: list[BaseException] = []

    def host() -> None:
        try:
            adapter(environ, _Recorder())
        except BaseException as exc:
            errors.append(exc)

    with AsgiToWsgi(app, lifespan="off") as adapter:
        thread = threading.Thread(target=host, daemon=True)
        thread.start()
        try:
            client_end.settimeout(WAIT)
            client.receive_data(client_end.recv(65536))
            assert any(isinstance(event, AcceptConnection) for event in client.events())
            frame = client.send(Message(data=b"x" * CHUNK))
            client_end.settimeout(0.5)  # a write that cannot go on for this long is blocked
            accepted = 0
            for _ in range(MESSAGES):
                try:
                    client_end.sendall(frame)
                except TimeoutError:
                    break
                accepted += 1
        finally:
            release.set()
            thread.join(WAIT)
            client_end.close()
            host_end.close()
    # 16 messages queued for the app, one being read, and the socket buffers: never all 200.
    assert accepted < MESSAGES // 4, accepted
    assert not thread.is_alive()
    assert len(errors) == 1 and isinstance(errors[0], ConnectionError), errors


def test_wsgi_to_asgi_a_subprotocol_that_is_not_ascii_is_400() -> None:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "websocket.connect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        raise AssertionError("the app must not be called")

    scope = {
        "type": "websocket",
        "asgi": {"version": "3.0"},
        "path": "/ws",
        "headers": [(b"host", b"example.test")],
        "subprotocols": ["chät"],
        "extensions": {"websocket.http.response": {}},
    }
    asyncio.run(asyncio.wait_for(WsgiToAsgi(app)(scope, receive, send), WAIT))
    assert sent[0]["type"] == "websocket.http.response.start" and sent[0]["status"] == 400
