"""P8 (issue 16): a random sequence of WebSocket messages crosses each bridge unchanged.

Hypothesis draws two sequences of messages (text with any Unicode, including
the empty string, and binary of 0 B to 100 KiB, so that some outgrow a socket
pair's buffer and arrive in many reads): what the client sends and what the
app sends back once it has read them all.

WsgiToAsgi: a simple-websocket WSGI app, driven as ASGI in-process (the test
plays the ASGI server). AsgiToWsgi: an ASGI app, called as a WSGI app with one
end of a socket pair under ``werkzeug.socket``; the test plays the client on
the other end with wsproto's own client. Both times the app must read exactly
the client's sequence (type and payload) and the client must get exactly the
app's, followed by a normal close.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from typing import Any

import pytest
import websocket_client as wsc
from drivers import PROPERTY_TIMEOUT
from hypothesis import given
from hypothesis import strategies as st

from bridge import AsgiToWsgi, WsgiToAsgi

pytestmark = [pytest.mark.timeout(PROPERTY_TIMEOUT)]

END = "\x00end of the client's messages"
WAIT = 30.0

messages = st.lists(
    st.one_of(
        st.text(max_size=300).filter(lambda text: text != END),
        st.binary(max_size=300),
        st.integers(0, 100 * 1024).map(lambda n: bytes(i % 251 for i in range(n))),
    ),
    max_size=12,
)


# -- WsgiToAsgi ------------------------------------------------------------------------


def _wsgi_app(outgoing: list[str | bytes], received: list[str | bytes]) -> Any:
    from simple_websocket import ConnectionClosed, Server

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        ws = Server.accept(environ, receive_bytes=65536)
        try:
            while (data := ws.receive(timeout=WAIT)) != END:
                assert data is not None, "the client's messages stopped coming"
                received.append(data)
            for message in outgoing:
                ws.send(message)
            ws.close(1000)
        except ConnectionClosed:
            pass
        start_response("200 OK", [])
        return []

    return app


async def _drive_wsgi_to_asgi(
    adapter: WsgiToAsgi, incoming: list[str | bytes]
) -> list[dict[str, Any]]:
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    inbox.put_nowait({"type": "websocket.connect"})
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return await inbox.get()

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)
        if message["type"] == "websocket.accept":
            for data in [*incoming, END]:
                key = "text" if isinstance(data, str) else "bytes"
                inbox.put_nowait({"type": "websocket.receive", key: data})
        elif message["type"] == "websocket.close":
            inbox.put_nowait({"type": "websocket.disconnect", "code": 1000})

    scope = {
        "type": "websocket",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "scheme": "ws",
        "path": "/ws",
        "raw_path": b"/ws",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"example.test")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
        "subprotocols": [],
        "extensions": {},
    }
    await asyncio.wait_for(adapter(scope, receive, send), WAIT)
    return sent


@given(messages, messages)
def test_messages_cross_wsgi_to_asgi_unchanged(
    incoming: list[str | bytes], outgoing: list[str | bytes]
) -> None:
    received: list[str | bytes] = []
    adapter = WsgiToAsgi(_wsgi_app(outgoing, received), workers=2)
    sent = asyncio.run(_drive_wsgi_to_asgi(adapter, incoming))
    assert received == incoming
    assert sent[0]["type"] == "websocket.accept"
    assert sent[-1]["type"] == "websocket.close" and sent[-1]["code"] == 1000
    carried = [message.get("text", message.get("bytes")) for message in sent[1:-1]]
    assert all(message["type"] == "websocket.send" for message in sent[1:-1])
    assert carried == outgoing
    assert [type(data) for data in carried] == [type(data) for data in outgoing]


# -- AsgiToWsgi ------------------------------------------------------------------------


def _asgi_app(outgoing: list[str | bytes], received: list[str | bytes]) -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            return
        assert (await receive())["type"] == "websocket.connect"
        await send({"type": "websocket.accept"})
        while True:
            message = await receive()
            assert message["type"] == "websocket.receive", message
            data = message.get("text", message.get("bytes"))
            if data == END:
                break
            received.append(data)
        for data in outgoing:
            key = "text" if isinstance(data, str) else "bytes"
            await send({"type": "websocket.send", key: data})
        await send({"type": "websocket.close", "code": 1000})

    return app


def _client_run(sock: socket.socket, key_holder: Any, incoming: list[str | bytes]) -> list[Any]:
    """Play the client on ``sock`` with wsproto: send ``incoming``, collect what comes."""
    from wsproto.events import (
        AcceptConnection,
        BytesMessage,
        CloseConnection,
        Message,
        TextMessage,
    )

    client = key_holder
    got: list[Any] = []
    parts: list[Any] = []
    accepted = False
    sock.settimeout(WAIT)
    while True:
        data = sock.recv(65536)
        client.receive_data(data or None)
        for event in client.events():
            if isinstance(event, AcceptConnection):
                accepted = True
                out = b"".join(
                    client.send(
                        Message(data=item) if isinstance(item, bytes) else TextMessage(data=item)
                    )
                    for item in [*incoming, END]
                )
                threading.Thread(target=sock.sendall, args=(out,), daemon=True).start()
            elif isinstance(event, (TextMessage, BytesMessage)):
                parts.append(event.data)
                if event.message_finished:
                    joined = ("" if isinstance(event, TextMessage) else b"").join(parts)
                    got.append(joined)
                    parts = []
            elif isinstance(event, CloseConnection):
                got.append(("close", event.code))
                try:
                    sock.sendall(client.send(event.response()))
                except OSError:
                    pass
                return got
        if not data:
            got.append(("eof", accepted))
            return got


@given(messages, messages)
def test_messages_cross_asgi_to_wsgi_unchanged(
    incoming: list[str | bytes], outgoing: list[str | bytes]
) -> None:
    from wsproto import ConnectionType, WSConnection
    from wsproto.events import Request

    received: list[str | bytes] = []
    host_end, client_end = socket.socketpair()
    client = WSConnection(ConnectionType.CLIENT)
    request = client.send(Request(host="example.test", target="/ws"))
    key = next(
        line.split(b":", 1)[1].strip().decode()
        for line in request.split(b"\r\n")
        if line.lower().startswith(b"sec-websocket-key:")
    )
    environ = wsc.upgrade_environ(HTTP_SEC_WEBSOCKET_KEY=key, **{"werkzeug.socket": host_end})
    outcome: list[BaseException] = []

    def host() -> None:
        try:
            adapter(environ, lambda *args: None)
        except BaseException as exc:
            outcome.append(exc)

    with AsgiToWsgi(_asgi_app(outgoing, received), lifespan="off") as adapter:
        thread = threading.Thread(target=host, daemon=True)
        thread.start()
        try:
            got = _client_run(client_end, client, incoming)
        finally:
            thread.join(WAIT)
            client_end.close()
            host_end.close()
    assert not thread.is_alive()
    assert received == incoming
    assert got == [*outgoing, ("close", 1000)]
    assert [type(data) for data in got[:-1]] == [type(data) for data in outgoing]
    # Werkzeug's way of ending a call whose connection was taken over.
    assert len(outcome) == 1 and isinstance(outcome[0], ConnectionError), outcome
