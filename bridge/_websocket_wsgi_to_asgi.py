"""WsgiToAsgi for a ``websocket`` scope: a WSGI WebSocket app on an ASGI server.

Theory of operation
-------------------
WSGI has no WebSocket, but the WSGI WebSocket libraries (simple-websocket,
and Flask-Sock on it) run on servers that hand them the client's socket in
the environ. The bridge does the same with one end of a
``socket.socketpair()``, under ``werkzeug.socket``, and keeps the other end:

* the *thread side* (:func:`_run_app`) runs the WSGI app on one of the
  adapter's worker threads, as for HTTP. The app reads the handshake from the
  environ (:func:`~bridge._websocket_protocol.upgrade_environ_keys`), writes
  its ``101`` and frames on its socket and reads the client's frames from it.
  When the call returns, the thread shuts its socket down (the loop side sees
  the end) and hands the outcome (the WSGI response, or the exception) to the
  loop through a one-item :class:`~bridge._channel.Channel`. A WebSocket holds
  its worker thread for its whole life: size ``workers`` for the connections
  plus the HTTP requests (docs/websockets.md).

* the *loop side* (:class:`_Session`) plays the app's WebSocket client
  (:class:`~bridge._websocket_protocol.AppPeer`, wsproto) over its end, made
  non-blocking and wrapped as an anyio stream where anyio can (4.7 and
  later; the loop then keeps it registered, instead of once per read), with
  three tasks at most: ``_from_app`` reads the app's bytes
  and sends the ASGI messages they stand for, ``_from_client`` (started at
  accept) turns the server's ``websocket.receive``/``disconnect`` into frames
  for the app, and short ``_flush`` tasks write the replies the protocol owes
  the app (pong, close). Every write goes through one lock, so frames never
  interleave.

Backpressure both ways: ``_from_app`` awaits each ``send`` before it reads
more, so a slow client fills the socket pair's buffer and the app's own
``send`` blocks; ``_from_client`` awaits each write to the app before it
receives the next message, so an app that does not read stops the server
reading from the client. Nothing queues without bound; the only buffer is
one message being reassembled (an ASGI message is always whole).

A refusal: the app answers with an ordinary WSGI response instead of a ``101``
(Flask returning 403 before it creates the WebSocket). The loop side sees the
socket end without a handshake, takes the response from the outcome and sends
it as ``websocket.http.response.*`` where the server offers that extension,
else ``websocket.close`` before accept (the server answers 403). An exception
from the app is raised from the ASGI call after the close, for the server to
log, as for HTTP.

The ASGI call ends when the app's WSGI call has returned. Cancelled (server
shutdown), it closes its end at once: the app reads the end of the connection
and its thread is freed at its next read or write.
"""

from __future__ import annotations

import contextvars
import logging
import socket
from collections.abc import Callable, Iterable, MutableMapping
from typing import TYPE_CHECKING, Any

import anyio
import anyio.abc

from ._channel import Channel, LoopHandle
from ._environ import build_environ
from ._errors import RequestRejected
from ._http import encode_wsgi_headers, parse_status
from ._websocket_protocol import (
    AppPeer,
    ProtocolFailure,
    WebSocketUnavailable,
    http_view_of,
    require_wsproto,
    upgrade_environ_keys,
)
from ._wsgi_input import RequestBody

if TYPE_CHECKING:  # pragma: no cover
    from ._wsgi_to_asgi import WsgiToAsgi

logger = logging.getLogger("bridge")

Message = dict[str, Any]
Receive = Callable[[], Any]
Send = Callable[[Message], Any]

#: The key simple-websocket (and Flask-Sock) look for first.
SOCKET_KEY = "werkzeug.socket"
#: Bytes read from the app's socket at once.
_READ_SIZE = 256 * 1024
#: A refusal's body is kept up to this size (the rest is dropped).
_MAX_REFUSAL_BODY = 64 * 1024
_EXTENSION = "websocket.http.response"
_wait_readable = getattr(anyio, "wait_readable", None) or anyio.wait_socket_readable
_wait_writable = getattr(anyio, "wait_writable", None) or anyio.wait_socket_writable
_warned_unavailable = False
#: anyio 4.7 and later wrap an existing socket as a stream.
_from_socket = getattr(anyio.abc.SocketStream, "from_socket", None)


class _Outcome:
    """How the WSGI call ended: its response (for a refusal) or its exception."""

    __slots__ = ("body", "error", "headers", "status")

    def __init__(self) -> None:
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.body = bytearray()
        self.error: BaseException | None = None


def _run_app(
    app: Callable[..., Iterable[bytes]],
    environ: dict[str, Any],
    app_socket: socket.socket,
    outcome_channel: Channel[_Outcome],
) -> None:
    """The worker thread's job: run the WSGI app on its end of the socket pair."""
    outcome = _Outcome()

    def write(data: bytes) -> None:
        room = _MAX_REFUSAL_BODY - len(outcome.body)
        if room > 0:
            outcome.body += bytes(data[:room])

    def start_response(
        status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], None]:
        del exc_info  # the response is only ever replaced: no cycle through a traceback
        outcome.status = parse_status(status)
        outcome.headers = encode_wsgi_headers(headers)
        return write

    try:
        iterable = app(environ, start_response)
        try:
            for chunk in iterable:
                write(chunk)
        finally:
            close = getattr(iterable, "close", None)
            if close is not None:
                close()
    except StopIteration:
        pass  # Flask-Sock under gunicorn.socket: "the connection was handled"
    except BaseException as exc:
        outcome.error = exc
        del exc
    finally:
        _shut(app_socket)
        try:
            outcome_channel.put_nowait(outcome)
        except Exception:  # the loop is gone (server shut down): nobody waits for it
            if outcome.error is not None:
                logger.error("WSGI WebSocket app raised", exc_info=outcome.error)


def _shut(sock: socket.socket) -> None:
    """End a socket both ways (waking a thread blocked in recv on it) and close it."""
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()


async def serve_websocket(
    adapter: WsgiToAsgi, scope: MutableMapping[str, Any], receive: Receive, send: Send
) -> None:
    """Serve one ASGI ``websocket`` scope with the adapter's WSGI app."""
    message = await receive()
    if message["type"] != "websocket.connect":
        return  # the client left before the handshake began
    try:
        require_wsproto()
    except WebSocketUnavailable as unavailable:
        _warn_unavailable(unavailable)
        await send({"type": "websocket.close", "code": 1011})  # the server answers 403
        return
    try:
        environ = build_environ(
            http_view_of(scope),
            adapter._base_environ,
            duplicate_header_limit=adapter.duplicate_header_limit,
            max_header_count=adapter.max_header_count,
            max_header_bytes=adapter.max_header_bytes,
        )
    except RequestRejected as rejected:
        body = (rejected.reason + "\n").encode()
        headers = [(b"content-type", b"text/plain; charset=utf-8")]
        await _refuse(scope, send, rejected.status, headers, body)
        return
    # The request wsproto writes for this client is never sent (the app reads the
    # environ), so its host and target need not be the client's.
    try:
        peer = AppPeer("localhost", "/", scope.get("subprotocols") or ())
    except (UnicodeError, ValueError):  # a subprotocol that is no ASCII token
        await _refuse(scope, send, 400, _TEXT, b"invalid Sec-WebSocket-Protocol\n")
        return
    upgrade_environ_keys(environ, scope, peer.key)
    session = _Session(scope, send, receive, peer)
    await session.run(adapter, environ)


def _warn_unavailable(unavailable: WebSocketUnavailable) -> None:
    global _warned_unavailable
    if not _warned_unavailable:
        _warned_unavailable = True
        logger.error("WebSocket connection refused: %s", unavailable)


async def _refuse(
    scope: MutableMapping[str, Any],
    send: Send,
    status: int,
    headers: list[tuple[bytes, bytes]],
    body: bytes,
) -> None:
    """Refuse before accept: the response itself where the server can send it, else 403."""
    if _EXTENSION in (scope.get("extensions") or {}):
        await send({"type": "websocket.http.response.start", "status": status, "headers": headers})
        await send({"type": "websocket.http.response.body", "body": body, "more_body": False})
    else:
        await send({"type": "websocket.close", "code": 1008})


class _Session:
    """The loop side of one WebSocket connection (see the module docstring)."""

    def __init__(
        self, scope: MutableMapping[str, Any], send: Send, receive: Receive, peer: AppPeer
    ) -> None:
        self.scope = scope
        self.send = send
        self.receive = receive
        self.peer = peer
        self.app_socket, self.socket = socket.socketpair()
        self.socket.setblocking(False)
        self.write_lock = anyio.Lock()
        # The loop's own stream over self.socket where anyio offers one (it then
        # owns the socket: every read and write goes through it).
        self.stream: anyio.abc.SocketStream | None = None
        self.client_gone = False
        self.ended = False  # websocket.close or a refusal went to the server

    async def run(self, adapter: WsgiToAsgi, environ: dict[str, Any]) -> None:
        environ[SOCKET_KEY] = self.app_socket
        environ["wsgi.input"] = RequestBody(None, 0)
        outcome_channel: Channel[_Outcome] = Channel(LoopHandle(), 1)
        context = contextvars.copy_context()
        try:
            adapter._get_executor().submit(
                context.run, _run_app, adapter.app, environ, self.app_socket, outcome_channel
            )
        except BaseException:
            _shut(self.app_socket)
            self.socket.close()
            raise
        del environ
        try:
            if _from_socket is not None:
                # A stream keeps the socket registered with the loop between
                # reads: no selector registration per message, as a bare
                # wait_readable() costs (measured: docs/websockets.md).
                self.stream = await _from_socket(self.socket)
            async with anyio.create_task_group() as tasks:
                await self._from_app(tasks, self.stream)
                tasks.cancel_scope.cancel()  # the client pump: the app is done
            outcome = await outcome_channel.aget()
        finally:
            if self.stream is not None:
                with anyio.CancelScope(shield=True):
                    await self.stream.aclose()
            self.socket.close()
        await self._finish(outcome)

    async def _from_app(
        self, tasks: anyio.abc.TaskGroup, reader: anyio.abc.SocketStream | None
    ) -> None:
        """Read the app's bytes until its socket ends; send what they stand for."""
        peer = self.peer
        sock = self.socket
        while True:
            if reader is not None:
                try:
                    data = await reader.receive(_READ_SIZE)
                except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError):
                    data = b""
            else:
                await _wait_readable(sock)
                try:
                    data = sock.recv(_READ_SIZE)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
            if not data:
                # The app's end closed: _finish answers for it (a refusal before
                # the handshake, a close with the right code after it).
                return
            try:
                messages = peer.receive_data(data)
            except ProtocolFailure as failure:
                logger.error("%s", failure)
                if peer.accepted and not self.ended and not self.client_gone:
                    self.ended = True
                    await self._send({"type": "websocket.close", "code": 1011})
                return
            if peer.data_to_send_pending():
                tasks.start_soon(self._flush)
            for message in messages:
                if self.client_gone:
                    continue
                await self._send(message)
                if message["type"] == "websocket.accept":
                    tasks.start_soon(self._from_client)
                elif message["type"] == "websocket.close":
                    self.ended = True

    async def _send(self, message: Message) -> None:
        try:
            await self.send(message)
        except OSError:
            self.client_gone = True  # ASGI 2.4: send raises once the client left

    async def _from_client(self) -> None:
        """Turn the server's messages into frames for the app, one write at a time."""
        peer = self.peer
        while True:
            message = await self.receive()
            peer.client_message(message)
            if message["type"] == "websocket.disconnect":
                self.client_gone = True
                await self._flush()
                try:  # after the close frame: an app that ignores it reads the end
                    if self.stream is not None:
                        await self.stream.send_eof()
                    else:
                        self.socket.shutdown(socket.SHUT_WR)
                except (OSError, anyio.BrokenResourceError, anyio.ClosedResourceError):
                    pass
                return
            await self._flush()

    async def _flush(self) -> None:
        async with self.write_lock:
            data = self.peer.data_to_send()
            if self.stream is not None:
                if data:
                    try:
                        await self.stream.send(data)
                    except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                        pass  # the app's end is gone; _from_app sees it end
                return
            view = memoryview(data)
            while view:
                try:
                    sent = self.socket.send(view)
                except BlockingIOError:
                    await _wait_writable(self.socket)
                    continue
                except OSError:
                    return  # the app's end is gone; _from_app sees it end
                view = view[sent:]

    async def _finish(self, outcome: _Outcome) -> None:
        """After the WSGI call: refuse, or close, if nothing did; raise the app's error."""
        peer = self.peer
        error = outcome.error
        if not peer.accepted and not self.client_gone:
            if error is not None:
                await _refuse(self.scope, self.send, 500, _TEXT, b"Internal Server Error")
            elif outcome.status == 0:
                logger.error("WSGI app neither accepted the WebSocket nor called start_response()")
                await _refuse(self.scope, self.send, 500, _TEXT, b"Internal Server Error")
            else:
                await _refuse(
                    self.scope, self.send, outcome.status, outcome.headers, bytes(outcome.body)
                )
        elif not self.ended and not self.client_gone:
            # The app ended without a close frame: 1011 if it failed (raised, or
            # answered 5xx, as Flask does for an error in a route), else 1000.
            failed = error is not None or outcome.status >= 500
            await self._send({"type": "websocket.close", "code": 1011 if failed else 1000})
        if error is not None:
            try:
                raise error
            finally:
                del error, outcome


_TEXT = [(b"content-type", b"text/plain; charset=utf-8")]
