"""Pure translation between ASGI ``websocket.*`` messages and WebSocket bytes.

Theory of operation
-------------------
The WebSocket protocol itself (handshake, framing, masking, UTF-8 checks,
close handshake) is wsproto's; this module only maps between its events and
ASGI messages, and never waits, reads a socket or starts a thread. The
concurrency modules (``_websocket_wsgi_to_asgi``, ``_websocket_asgi_to_wsgi``)
feed it the bytes they read and write out what it returns.

Each direction has one class, named after the peer the bridge talks
WebSocket to:

:class:`AppPeer` (``WsgiToAsgi``)
    The *WSGI app* is the WebSocket server: the bridge plays its client over
    one end of a socket pair. The ASGI server already did the real handshake
    with the real client, so the request the app "receives" is the environ;
    the bridge only has to know the ``Sec-WebSocket-Key`` it put there to check
    the app's ``101``. The app's bytes become ``websocket.accept``,
    ``websocket.send`` and ``websocket.close`` for the ASGI server; the
    client's ``websocket.receive`` and ``websocket.disconnect`` become frames.

:class:`ClientPeer` (``AsgiToWsgi``)
    The *real client* is on the other end of the socket the WSGI host hands
    over: the bridge is its WebSocket server. The host parsed the request
    head; wsproto is given its headers (``initiate_upgrade_connection``).
    The ASGI app's ``websocket.accept`` becomes the ``101``, a close before
    accept a ``403``, ``websocket.http.response.*`` any other response; the
    client's frames become ``websocket.receive`` and ``websocket.disconnect``.

Both answer pings themselves (ASGI has no ping message) and reassemble
fragmented messages, because an ASGI message is always a whole one. A
message the *client* sends may grow to ``max_message_size`` only (a too-big
one closes with 1009, as uvicorn's ``ws_max_size``); the app's are its own.

Close codes 1005, 1006 and 1015 may never go on the wire (RFC 6455 7.4.1): a
disconnect with one of them is passed on as a close frame without a code,
which the other side reads as 1005 (no status).

wsproto is an optional dependency (the ``websocket`` extra): importing this
module without it raises :class:`WebSocketUnavailable` with the install hint.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ._errors import RequestRejected

try:
    from wsproto import ConnectionType, WSConnection
    from wsproto.connection import ConnectionState
    from wsproto.events import (
        AcceptConnection,
        BytesMessage,
        CloseConnection,
        Ping,
        RejectConnection,
        RejectData,
        Request,
        TextMessage,
    )
    from wsproto.frame_protocol import CloseReason
    from wsproto.utilities import LocalProtocolError, RemoteProtocolError
except ImportError as missing:  # pragma: no cover - the extra is installed in tests
    _IMPORT_ERROR: ImportError | None = missing
else:
    _IMPORT_ERROR = None

Message = dict[str, Any]
Headers = list[tuple[bytes, bytes]]

#: The largest message a client may send through AsgiToWsgi, as uvicorn's
#: default ``ws_max_size`` (16 MiB).
DEFAULT_MAX_MESSAGE_SIZE = 16 * 1024 * 1024
#: Close codes an endpoint must never put in a close frame (RFC 6455 7.4.1).
_LOCAL_ONLY_CODES = frozenset({1005, 1006, 1015})
_MESSAGE_TOO_BIG = 1009
INSTALL_HINT = "WebSocket support needs wsproto: pip install 'wsgi-asgi-bridge[websocket]'"


class WebSocketUnavailable(RuntimeError):
    """wsproto is not installed, so the bridge cannot carry WebSockets."""


def require_wsproto() -> None:
    """Raise :class:`WebSocketUnavailable` (with the install hint) without wsproto."""
    if _IMPORT_ERROR is not None:
        raise WebSocketUnavailable(INSTALL_HINT) from _IMPORT_ERROR


class ProtocolFailure(Exception):
    """The peer broke the WebSocket protocol; ``code`` is the close code to report."""

    def __init__(self, reason: str, code: int = 1002) -> None:
        super().__init__(reason)
        self.code = code


def wire_close(code: int | None, reason: str | None) -> tuple[int | None, str | None]:
    """The code and reason that may go in a close frame for an ASGI close/disconnect."""
    if code is None or code in _LOCAL_ONLY_CODES:
        return None, None
    return code, reason or None


def _close_event(code: int | None, reason: str | None) -> CloseConnection:
    """A close frame; without a code it carries no status (wsproto wants the enum for that)."""
    if code is None:
        return CloseConnection(code=CloseReason.NO_STATUS_RCVD)
    return CloseConnection(code=code, reason=reason)


class _Assembler:
    """Joins the fragments of one message; an ASGI message is always whole."""

    __slots__ = ("_limit", "_parts", "_size", "_text")

    def __init__(self, limit: int | None) -> None:
        self._limit = limit
        self._parts: list[Any] = []
        self._size = 0
        self._text = False

    def add(self, event: TextMessage | BytesMessage) -> Message | None:
        """Add one fragment; the ``websocket.*`` body keys once the message is complete."""
        data: Any = event.data
        self._size += len(data)
        if self._limit is not None and self._size > self._limit:
            raise ProtocolFailure(f"message larger than {self._limit} bytes", code=_MESSAGE_TOO_BIG)
        self._text = isinstance(event, TextMessage)
        if not event.message_finished:
            self._parts.append(data)
            return None
        if self._parts:
            self._parts.append(data)
            data = ("" if self._text else b"").join(self._parts)
            self._parts = []
        self._size = 0
        return {"text": data} if self._text else {"bytes": bytes(data)}


def _header(raw_request: bytes, name: bytes) -> bytes:
    for line in raw_request.split(b"\r\n"):
        key, sep, value = line.partition(b":")
        if sep and key.strip().lower() == name:
            return value.strip()
    raise AssertionError(f"wsproto wrote no {name!r} header")  # pragma: no cover


def data_of(message: Message) -> str | bytes:
    """The payload of a ``websocket.send`` / ``websocket.receive`` (ASGI: exactly one)."""
    text = message.get("text")
    data = message.get("bytes")
    if text is not None and data is None and isinstance(text, str):
        return text
    if data is not None and text is None and isinstance(data, (bytes, bytearray)):
        return bytes(data)
    raise ValueError(
        f"{message.get('type')} must carry exactly one of 'bytes' (bytes) or 'text' (str)"
    )


class AppPeer:
    """The bridge as the WebSocket client of a WSGI app (``WsgiToAsgi``)."""

    def __init__(self, host: str, target: str, subprotocols: Iterable[str]) -> None:
        require_wsproto()
        self._ws = WSConnection(ConnectionType.CLIENT)
        request = self._ws.send(
            Request(host=host or "localhost", target=target, subprotocols=list(subprotocols))
        )
        # The environ carries this key, so the app's 101 answers this handshake.
        self.key = _header(request, b"sec-websocket-key").decode("ascii")
        self._assembler = _Assembler(None)
        self._out = bytearray()
        self.accepted = False
        self.closed = False  # a close frame went either way: no more ASGI messages

    def data_to_send_pending(self) -> bool:
        return bool(self._out)

    def data_to_send(self) -> bytes:
        """Bytes due to the app (pong, close replies, client messages)."""
        data = bytes(self._out)
        self._out.clear()
        return data

    def receive_data(self, data: bytes | None) -> list[Message]:
        """Feed the app's bytes (``None``: its socket ended); ASGI messages for the server.

        Raises :class:`ProtocolFailure` when the app broke the protocol.
        """
        try:
            self._ws.receive_data(data)
        except LocalProtocolError:
            return []  # bytes after the close handshake: nothing left to carry
        except RemoteProtocolError as exc:
            raise ProtocolFailure(f"the WSGI app broke the WebSocket protocol: {exc}") from None
        messages: list[Message] = []
        try:
            for event in self._ws.events():
                messages.extend(self._translate(event))
        except RemoteProtocolError as exc:
            raise ProtocolFailure(f"the WSGI app broke the WebSocket protocol: {exc}") from None
        return messages

    def _translate(self, event: Any) -> list[Message]:
        if isinstance(event, AcceptConnection):
            self.accepted = True
            return [
                {
                    "type": "websocket.accept",
                    "subprotocol": event.subprotocol,
                    "headers": [(name.lower(), value) for name, value in event.extra_headers],
                }
            ]
        if isinstance(event, (TextMessage, BytesMessage)):
            body = self._assembler.add(event)
            if body is None or self.closed:
                return []
            body["type"] = "websocket.send"
            return [body]
        if isinstance(event, Ping):
            self._send(event.response())
            return []
        if isinstance(event, CloseConnection):
            if self._ws.state is ConnectionState.REMOTE_CLOSING:
                self._send(event.response())  # complete the app's close handshake
            if self.closed:
                return []  # the app's answer to a close the client started
            self.closed = True
            return [{"type": "websocket.close", "code": event.code, "reason": event.reason or ""}]
        if isinstance(event, (RejectConnection, RejectData)):
            # A response written over the socket instead of a 101: the WSGI
            # response (start_response) is the refusal the bridge passes on.
            return []
        return []  # Pong: the bridge never pings the app

    def _send(self, event: Any) -> None:
        try:
            self._out += self._ws.send(event)
        except LocalProtocolError:
            pass  # the connection closed meanwhile: nothing more may be written

    def client_message(self, message: Message) -> None:
        """A message from the ASGI server (``websocket.receive`` / ``websocket.disconnect``)."""
        kind = message["type"]
        if kind == "websocket.receive":
            if not self.closed:
                data = data_of(message)
                self._send(TextMessage(data) if isinstance(data, str) else BytesMessage(data))
        elif kind == "websocket.disconnect" and not self.closed:
            self.closed = True
            code, reason = wire_close(message.get("code", 1005), message.get("reason"))
            self._send(_close_event(code, reason))


class ClientPeer:
    """The bridge as the WebSocket server of a real client (``AsgiToWsgi``)."""

    def __init__(
        self,
        headers: Headers,
        target: bytes,
        max_message_size: int | None = DEFAULT_MAX_MESSAGE_SIZE,
    ) -> None:
        """Take the request the host parsed.

        Raises :class:`RequestRejected` (400) for an upgrade request wsproto refuses.
        """
        require_wsproto()
        self._ws = WSConnection(ConnectionType.SERVER)
        try:
            self._ws.initiate_upgrade_connection(headers, target)
            events = list(self._ws.events())
        except RemoteProtocolError as exc:
            raise RequestRejected(400, f"invalid WebSocket upgrade request: {exc}") from None
        request = next((event for event in events if isinstance(event, Request)), None)
        if request is None:  # pragma: no cover - wsproto raises instead
            raise RequestRejected(400, "invalid WebSocket upgrade request")
        self.subprotocols: list[str] = list(request.subprotocols)
        self._assembler = _Assembler(max_message_size)
        self._out = bytearray()
        self.accepted = False
        self.responded = False  # accepted, or refused with an HTTP response
        self.response_done = False  # a refusal's last body went out
        self.closed = False  # the app closed or the client disconnected

    def data_to_send(self) -> bytes:
        """Bytes due to the client."""
        data = bytes(self._out)
        self._out.clear()
        return data

    def _send(self, event: Any) -> None:
        self._out += self._ws.send(event)

    def app_message(self, message: Message) -> None:
        """One message the ASGI app sends. Raises ``RuntimeError``/``ValueError`` on misuse."""
        kind = message.get("type")
        if kind == "websocket.accept":
            if self.responded:
                raise RuntimeError("websocket.accept after the handshake was answered")
            subprotocol = message.get("subprotocol")
            if subprotocol is not None and subprotocol not in self.subprotocols:
                raise ValueError(f"subprotocol {subprotocol!r} was not offered by the client")
            extra: Headers = []
            for name, value in message.get("headers") or ():
                if bytes(name).lower() == b"sec-websocket-protocol":
                    raise ValueError("use 'subprotocol', not a sec-websocket-protocol header")
                extra.append((bytes(name), bytes(value)))
            self._send(AcceptConnection(subprotocol=subprotocol, extra_headers=extra))
            self.accepted = self.responded = True
        elif kind == "websocket.send":
            if not self.accepted:
                raise RuntimeError("websocket.send before websocket.accept")
            if self.closed:
                raise RuntimeError("websocket.send after websocket.close")
            data = data_of(message)
            self._send(TextMessage(data) if isinstance(data, str) else BytesMessage(data))
        elif kind == "websocket.close":
            if not self.responded:
                # ASGI: a close before accept is a refusal, answered with 403.
                self._send(RejectConnection(status_code=403, headers=[], has_body=False))
                self.responded = self.response_done = True
                self.closed = True
            elif self.accepted and not self.closed:
                code, reason = wire_close(message.get("code", 1000), message.get("reason"))
                self._send(_close_event(code, reason))
                self.closed = True
            elif not self.accepted:
                raise RuntimeError("websocket.close during a websocket.http.response")
        elif kind == "websocket.http.response.start":
            if self.responded:
                raise RuntimeError("websocket.http.response.start after the handshake was answered")
            headers = [(bytes(n), bytes(v)) for n, v in message.get("headers") or ()]
            self._send(
                RejectConnection(status_code=int(message["status"]), headers=headers, has_body=True)
            )
            self.responded = True
        elif kind == "websocket.http.response.body":
            if not self.responded or self.accepted or self.response_done:
                raise RuntimeError("websocket.http.response.body without a response start")
            more = bool(message.get("more_body", False))
            self._send(RejectData(data=bytes(message.get("body", b"")), body_finished=not more))
            if not more:
                self.response_done = self.closed = True
        else:
            raise ValueError(f"unexpected ASGI message type {kind!r} on a websocket scope")

    def receive_data(self, data: bytes | None) -> list[Message]:
        """Feed the client's bytes (``None``: the connection ended); messages for the app."""
        if self.closed and self._ws.state is ConnectionState.CLOSED:
            return []
        try:
            self._ws.receive_data(data)
        except LocalProtocolError:
            return []
        messages: list[Message] = []
        try:
            for event in self._ws.events():
                messages.extend(self._translate(event))
        except ProtocolFailure as failure:
            messages.append(self._fail(failure.code, str(failure)))
        except RemoteProtocolError as exc:
            code = int(getattr(exc.event_hint, "code", 1002) or 1002)
            messages.append(self._fail(code, str(exc)))
        return messages

    def _fail(self, code: int, reason: str) -> Message:
        """The client broke the protocol (or sent too much): close with ``code``."""
        if not self.closed:
            self.closed = True
            try:
                self._send(CloseConnection(code=code, reason=reason[:100]))
            except LocalProtocolError:
                pass
        return {"type": "websocket.disconnect", "code": code, "reason": ""}

    def _translate(self, event: Any) -> list[Message]:
        if isinstance(event, (TextMessage, BytesMessage)):
            body = self._assembler.add(event)
            if body is None:
                return []
            body["type"] = "websocket.receive"
            return [body]
        if isinstance(event, Ping):
            self._send(event.response())
            return []
        if isinstance(event, CloseConnection):
            if self._ws.state is ConnectionState.REMOTE_CLOSING:
                self._send(event.response())  # answer the client's close
            self.closed = True
            return [
                {"type": "websocket.disconnect", "code": event.code, "reason": event.reason or ""}
            ]
        return []


# -- the handshake request, translated (pure, like _scope and _environ) ---------


def _tokens(value: object) -> set[str]:
    if not isinstance(value, str):
        return set()
    return {part.strip().lower() for part in value.split(",") if part.strip()}


def is_websocket_upgrade(environ: dict[str, Any]) -> bool:
    """Whether a WSGI request asks for a WebSocket (RFC 6455 4.1: GET, Upgrade, Connection)."""
    return (
        environ.get("REQUEST_METHOD") == "GET"
        and "websocket" in _tokens(environ.get("HTTP_UPGRADE"))
        and "upgrade" in _tokens(environ.get("HTTP_CONNECTION"))
    )


def offered_subprotocols(environ: dict[str, Any]) -> list[str]:
    """The client's ``Sec-WebSocket-Protocol`` list, in its order."""
    value = environ.get("HTTP_SEC_WEBSOCKET_PROTOCOL")
    if not isinstance(value, str):
        return []
    return [part.strip() for part in value.split(",") if part.strip()]


def upgrade_environ_keys(
    environ: dict[str, Any], scope: dict[str, Any] | Any, key: str
) -> dict[str, Any]:
    """Make an environ built from a ``websocket`` scope look like an upgrade request.

    The ASGI server did the real handshake, and may have got it over HTTP/2
    (RFC 8441, no Upgrade headers): the app is shown the HTTP/1.1 request a
    WSGI server would have seen, with the key the bridge checks the app's 101
    against. ``Sec-WebSocket-Extensions`` is dropped: compression was agreed
    between the client and the server, and the app must not deflate frames the
    bridge then forwards as plain data.
    """
    environ["asgi.scope"] = scope
    environ["SERVER_PROTOCOL"] = "HTTP/1.1"
    environ.pop("HTTP_SEC_WEBSOCKET_EXTENSIONS", None)
    environ["HTTP_UPGRADE"] = "websocket"
    environ["HTTP_CONNECTION"] = "Upgrade"
    environ["HTTP_SEC_WEBSOCKET_VERSION"] = "13"
    environ["HTTP_SEC_WEBSOCKET_KEY"] = key
    if "HTTP_HOST" not in environ:  # HTTP/2 has :authority, which is not a header
        environ["HTTP_HOST"] = f"{environ['SERVER_NAME']}:{environ['SERVER_PORT']}"
    subprotocols = [str(name) for name in scope.get("subprotocols") or ()]
    if subprotocols:
        environ["HTTP_SEC_WEBSOCKET_PROTOCOL"] = ", ".join(subprotocols)
    else:
        environ.pop("HTTP_SEC_WEBSOCKET_PROTOCOL", None)
    return environ


def http_view_of(scope: dict[str, Any] | Any) -> dict[str, Any]:
    """A ``websocket`` scope as the ``http`` GET scope ``build_environ`` reads.

    ``wsgi.url_scheme`` is http/https, as a WSGI server reports an upgrade
    request (Werkzeug's router turns it into ws/wss itself).
    """
    view = dict(scope)
    view["type"] = "http"
    view["method"] = "GET"
    view["scheme"] = "https" if scope.get("scheme") in ("wss", "https") else "http"
    view["http_version"] = "1.1"
    return view


def websocket_scope_from(http_scope: dict[str, Any], environ: dict[str, Any]) -> dict[str, Any]:
    """An ``http`` scope built from an upgrade request, turned into its ``websocket`` scope."""
    scope = dict(http_scope)
    scope["type"] = "websocket"
    del scope["method"]
    scope["scheme"] = "wss" if http_scope.get("scheme") == "https" else "ws"
    scope["subprotocols"] = offered_subprotocols(environ)
    return scope
