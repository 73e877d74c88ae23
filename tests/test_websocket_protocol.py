"""The pure WebSocket translation (bridge/_websocket_protocol.py), without sockets or servers.

AppPeer and ClientPeer are made to talk to each other (AppPeer is the client
of a WSGI app, ClientPeer the server of a real client: together they are a
client and a server), so each check reads as "this ASGI message on one side
becomes that one on the other".
"""

from __future__ import annotations

from typing import Any

import pytest

from bridge import _websocket_protocol as protocol
from bridge._errors import RequestRejected
from bridge._websocket_protocol import AppPeer, ClientPeer, WebSocketUnavailable


def _pair(subprotocols: tuple[str, ...] = ()) -> tuple[AppPeer, ClientPeer]:
    client = AppPeer("example.test", "/", subprotocols)
    headers = [
        (b"host", b"example.test"),
        (b"upgrade", b"websocket"),
        (b"connection", b"Upgrade"),
        (b"sec-websocket-key", client.key.encode()),
        (b"sec-websocket-version", b"13"),
    ]
    if subprotocols:
        headers.append((b"sec-websocket-protocol", ", ".join(subprotocols).encode()))
    return client, ClientPeer(headers, b"/")


def _to_client(server: ClientPeer, client: AppPeer, message: dict[str, Any]) -> list[Any]:
    server.app_message(message)
    return client.receive_data(server.data_to_send())


def _to_server(client: AppPeer, server: ClientPeer, message: dict[str, Any]) -> list[Any]:
    client.client_message(message)
    return server.receive_data(client.data_to_send())


def test_accept_carries_subprotocol_and_headers() -> None:
    client, server = _pair(("a", "chat"))
    assert server.subprotocols == ["a", "chat"]
    got = _to_client(
        server,
        client,
        {"type": "websocket.accept", "subprotocol": "chat", "headers": [(b"x-one", b"1")]},
    )
    assert got == [
        {"type": "websocket.accept", "subprotocol": "chat", "headers": [(b"x-one", b"1")]}
    ]


def test_a_subprotocol_not_offered_is_refused_to_the_app() -> None:
    _, server = _pair(("a",))
    with pytest.raises(ValueError, match="not offered"):
        server.app_message({"type": "websocket.accept", "subprotocol": "b"})


def test_messages_both_ways_keep_type_and_payload() -> None:
    client, server = _pair()
    _to_client(server, client, {"type": "websocket.accept"})
    assert _to_client(server, client, {"type": "websocket.send", "text": "é"}) == [
        {"type": "websocket.send", "text": "é"}
    ]
    assert _to_server(client, server, {"type": "websocket.receive", "bytes": b"\x00"}) == [
        {"type": "websocket.receive", "bytes": b"\x00"}
    ]


def test_close_code_and_reason_cross() -> None:
    client, server = _pair()
    _to_client(server, client, {"type": "websocket.accept"})
    got = _to_client(server, client, {"type": "websocket.close", "code": 4001, "reason": "bye"})
    assert got == [{"type": "websocket.close", "code": 4001, "reason": "bye"}]
    # The client side answered the close; the server side sees the handshake end.
    assert server.receive_data(client.data_to_send()) == [
        {"type": "websocket.disconnect", "code": 4001, "reason": "bye"}
    ]


@pytest.mark.parametrize("code", [1005, 1006, 1015])
def test_a_local_only_code_goes_out_as_no_status(code: int) -> None:
    client, server = _pair()
    _to_client(server, client, {"type": "websocket.accept"})
    got = _to_server(client, server, {"type": "websocket.disconnect", "code": code})
    assert got == [{"type": "websocket.disconnect", "code": 1005, "reason": ""}]


def test_close_before_accept_is_403() -> None:
    client, server = _pair()
    server.app_message({"type": "websocket.close"})
    assert server.data_to_send().startswith(b"HTTP/1.1 403 ")
    assert client.accepted is False


def test_http_response_extension_is_any_response() -> None:
    _, server = _pair()
    server.app_message(
        {"type": "websocket.http.response.start", "status": 401, "headers": [(b"a", b"b")]}
    )
    server.app_message({"type": "websocket.http.response.body", "body": b"no", "more_body": False})
    data = server.data_to_send()
    assert data.startswith(b"HTTP/1.1 401 ") and data.endswith(b"2\r\nno\r\n0\r\n\r\n")
    with pytest.raises(RuntimeError):
        server.app_message({"type": "websocket.accept"})


def test_send_before_accept_is_an_error() -> None:
    _, server = _pair()
    with pytest.raises(RuntimeError, match=r"before websocket\.accept"):
        server.app_message({"type": "websocket.send", "text": "x"})


def test_a_message_must_carry_exactly_one_payload() -> None:
    _, server = _pair()
    server.app_message({"type": "websocket.accept"})
    with pytest.raises(ValueError, match="exactly one"):
        server.app_message({"type": "websocket.send", "text": "x", "bytes": b"x"})
    with pytest.raises(ValueError, match="exactly one"):
        server.app_message({"type": "websocket.send"})


def test_a_client_message_past_the_limit_closes_with_1009() -> None:
    client = AppPeer("example.test", "/", ())
    headers = [
        (b"host", b"example.test"),
        (b"upgrade", b"websocket"),
        (b"connection", b"Upgrade"),
        (b"sec-websocket-key", client.key.encode()),
        (b"sec-websocket-version", b"13"),
    ]
    server = ClientPeer(headers, b"/", max_message_size=10)
    _to_client(server, client, {"type": "websocket.accept"})
    got = _to_server(client, server, {"type": "websocket.receive", "bytes": b"x" * 11})
    assert got == [{"type": "websocket.disconnect", "code": 1009, "reason": ""}]
    assert client.receive_data(server.data_to_send())[0]["code"] == 1009


def test_a_ping_from_the_app_is_answered() -> None:
    from wsproto.frame_protocol import FrameProtocol, Opcode

    client, server = _pair()
    _to_client(server, client, {"type": "websocket.accept"})
    ping = FrameProtocol(client=False, extensions=[])._serialize_frame(Opcode.PING, b"hi")
    assert client.receive_data(bytes(ping)) == []
    assert client.data_to_send()  # the pong
    assert server.receive_data(client.data_to_send()) == []  # a pong is no ASGI message


def test_a_bad_upgrade_request_is_400() -> None:
    with pytest.raises(RequestRejected) as rejected:
        ClientPeer([(b"host", b"x"), (b"upgrade", b"websocket")], b"/")
    assert rejected.value.status == 400


def test_missing_wsproto_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(protocol, "_IMPORT_ERROR", ImportError("no wsproto"))
    with pytest.raises(WebSocketUnavailable, match=r"wsgi-asgi-bridge\[websocket\]"):
        protocol.require_wsproto()


def test_upgrade_detection() -> None:
    environ = {
        "REQUEST_METHOD": "GET",
        "HTTP_UPGRADE": "WebSocket",
        "HTTP_CONNECTION": "keep-alive, Upgrade",
    }
    assert protocol.is_websocket_upgrade(environ)
    assert not protocol.is_websocket_upgrade({**environ, "REQUEST_METHOD": "POST"})
    assert not protocol.is_websocket_upgrade({**environ, "HTTP_UPGRADE": "h2c"})
    assert not protocol.is_websocket_upgrade({**environ, "HTTP_CONNECTION": "close"})
