"""AsgiToWsgi for a WebSocket upgrade: an ASGI WebSocket endpoint on a WSGI host.

Theory of operation
-------------------
PEP 3333 cannot carry a WebSocket, but some hosts hand the app the client's
connection: gunicorn's sync and gthread workers (``gunicorn.socket``),
Werkzeug's server (``werkzeug.socket``) and uWSGI (``uwsgi.connection_fd()``,
of which the bridge takes a duplicate). On those, :func:`serve_upgrade`
takes over the socket for a valid upgrade request (GET, ``Upgrade:
websocket``, ``Connection: upgrade``) and runs the ASGI app with a
``websocket`` scope, built like the ``http`` one (:func:`~bridge._scope.build_scope`,
lifespan ``state`` included) and turned by
:func:`~bridge._websocket_protocol.websocket_scope_from`. Elsewhere (waitress,
wsgiref, mod_wsgi: no socket in the environ) the upgrade is answered ``501``
with the reason, and the app never sees a scope it could not use.

The *loop side* (:class:`_Session`, on the adapter's event loop) plays the
WebSocket server (:class:`~bridge._websocket_protocol.ClientPeer`, wsproto)
on the socket, made non-blocking:

* ``receive()`` gives ``websocket.connect`` first, then what the reader task
  (started at accept) queued: at most ``_QUEUE_SIZE`` messages, after which
  it stops reading, so a client faster than the app waits in TCP's window,
  not in memory. A client that vanishes (EOF, reset) becomes
  ``websocket.disconnect`` (1006), and ``send`` raises
  :class:`~bridge.ClientDisconnected` from then on.
* ``send()`` writes the bytes its message stands for before it returns (the
  app cannot run ahead of a slow client); writes are serialized with the
  reader's own (pong, close replies) by one lock.
* when the app returns, whatever it left undone is done for it: no answer
  at all is 403 (500 if it raised), an open connection is closed with 1000
  (1011 if it raised), as an ASGI server would.

The *thread side* (the host's worker thread) only waits for the session, so
it is busy for the connection's whole life, as with any WebSocket on these
hosts (gunicorn's sync worker also kills it after ``--timeout``). Then it
shuts the socket down and ends the WSGI call the way the host expects after
a hijack: ``StopIteration`` for gunicorn ("close the connection, write
nothing"), ``ConnectionError`` for Werkzeug ("the connection dropped"), an
empty response without ``start_response`` for uWSGI. The
shutdown first makes both close at once and read no further request.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import socket
from collections.abc import Callable, Iterable
from concurrent.futures import TimeoutError as FutureTimeout
from typing import TYPE_CHECKING, Any

from ._errors import ClientDisconnected, RequestRejected
from ._http import status_line
from ._scope import build_scope
from ._websocket_protocol import (
    ClientPeer,
    WebSocketUnavailable,
    is_websocket_upgrade,
    require_wsproto,
    websocket_scope_from,
)

if TYPE_CHECKING:  # pragma: no cover
    from ._asgi_to_wsgi import AsgiToWsgi, _Runtime

logger = logging.getLogger("bridge")

Message = dict[str, Any]
StartResponse = Callable[..., Any]

#: Messages read ahead of the app; past it the reader waits (backpressure).
_QUEUE_SIZE = 16
_READ_SIZE = 256 * 1024
#: How often the waiting host thread checks that the loop still runs.
_LOOP_CHECK_INTERVAL = 2.0
_EXTENSIONS: dict[str, Any] = {"websocket.http.response": {}}
#: environ key -> the host it means; the first one present wins.
_HOST_SOCKETS = (("gunicorn.socket", "gunicorn"), ("werkzeug.socket", "werkzeug"))
NO_SOCKET_REASON = (
    "this WSGI server cannot carry a WebSocket: it exposes no connection to the app "
    "(gunicorn's sync/gthread workers, Werkzeug's server and uWSGI do; see docs/websockets.md)"
)


def _plain(start_response: StartResponse, status: int, text: str) -> list[bytes]:
    body = (text + "\n").encode()
    start_response(
        status_line(status),
        [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))],
    )
    return [body]


def serve_upgrade(
    adapter: AsgiToWsgi, runtime: _Runtime, environ: dict[str, Any], start_response: StartResponse
) -> Iterable[bytes] | None:
    """Serve a WebSocket upgrade request; None if ``environ`` is not one (plain HTTP)."""
    if not is_websocket_upgrade(environ):
        return None
    sock: socket.socket | None = None
    host = ""
    for key, name in _HOST_SOCKETS:
        candidate = environ.get(key)
        if isinstance(candidate, socket.socket):
            sock, host = candidate, name
            break
    owned = False  # a dup of uWSGI's connection, closed here after the session
    if sock is None and "uwsgi.version" in environ:
        sock = _uwsgi_connection()
        host, owned = "uwsgi", sock is not None
    if sock is None:
        return _plain(start_response, 501, NO_SOCKET_REASON)
    try:
        require_wsproto()
    except WebSocketUnavailable as unavailable:
        return _plain(start_response, 501, str(unavailable))
    lifespan = runtime.lifespan
    try:
        http_scope = build_scope(
            environ,
            state=dict(lifespan.state) if lifespan.supported else None,
            extensions=_EXTENSIONS,
            max_header_count=adapter.max_header_count,
            max_header_bytes=adapter.max_header_bytes,
        )
        scope = websocket_scope_from(http_scope, environ)
        target = scope["raw_path"]
        if scope["query_string"]:
            target += b"?" + scope["query_string"]
        peer = ClientPeer(scope["headers"], target)
    except RequestRejected as rejected:
        if owned:
            sock.close()
        return _plain(start_response, rejected.status, rejected.reason)
    session = _Session(adapter.app, scope, sock, peer)
    future = asyncio.run_coroutine_threadsafe(session.run(), runtime.loop)
    try:
        while True:
            try:
                future.result(_LOOP_CHECK_INTERVAL)
                break
            except FutureTimeout:
                if not runtime.loop.is_running():
                    future.cancel()  # the adapter shut down under the connection
                    break
    finally:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        if owned:
            sock.close()
    del environ, session
    # End the call the way this host treats a hijacked connection.
    if host == "gunicorn":
        raise StopIteration("WebSocket session ended")
    if host == "uwsgi":
        return []  # no start_response: uWSGI writes nothing on the closed connection
    raise ConnectionAbortedError("WebSocket session ended")


def _uwsgi_connection() -> socket.socket | None:
    """The client's connection under uWSGI (``--http-socket``), as a socket of our own."""
    try:
        # uWSGI's own module exists only inside a uWSGI worker.
        fd = int(importlib.import_module("uwsgi").connection_fd())
    except Exception:
        return None
    if fd < 0:
        return None
    return socket.socket(fileno=os.dup(fd))


class _Session:
    """The loop side of one WebSocket connection (see the module docstring)."""

    def __init__(self, app: Any, scope: dict[str, Any], sock: socket.socket, peer: ClientPeer):
        self.app = app
        self.scope = scope
        self.sock = sock
        self.peer = peer
        self.connect_given = False
        self.incoming: asyncio.Queue[Message] | None = None
        self.gone: Message | None = None  # the disconnect the app was (or will be) given
        self.write_lock: asyncio.Lock | None = None
        self.reader: asyncio.Task[None] | None = None

    async def run(self) -> None:
        self.sock.setblocking(False)
        self.incoming = asyncio.Queue(_QUEUE_SIZE)
        self.write_lock = asyncio.Lock()
        error: BaseException | None = None
        try:
            await self.app(self.scope, self.receive, self.send)
        except Exception as exc:
            error = exc
        try:
            await self._finish(error)
        finally:
            if self.reader is not None:
                self.reader.cancel()
        if error is not None and not isinstance(error, ClientDisconnected):
            # The host cannot show it: the call ends without a response.
            logger.error("ASGI app raised in a WebSocket session", exc_info=error)
        del error

    async def _finish(self, error: BaseException | None) -> None:
        """Do what the app left undone (see the module docstring)."""
        peer = self.peer
        try:
            if not peer.responded:
                if error is None:
                    peer.app_message({"type": "websocket.close"})  # 403
                else:
                    peer.app_message(
                        {"type": "websocket.http.response.start", "status": 500, "headers": []}
                    )
                    peer.app_message(
                        {"type": "websocket.http.response.body", "body": b"Internal Server Error"}
                    )
            elif peer.accepted and not peer.closed and self.gone is None:
                code = 1000 if error is None else 1011
                peer.app_message({"type": "websocket.close", "code": code})
            elif not peer.response_done and not peer.accepted:
                peer.app_message({"type": "websocket.http.response.body", "body": b""})
            await self._flush()
        except (OSError, RuntimeError):
            pass  # the client is gone: nothing more can reach it

    async def receive(self) -> Message:
        if not self.connect_given:
            self.connect_given = True
            return {"type": "websocket.connect"}
        if self.gone is not None and (self.incoming is None or self.incoming.empty()):
            return self.gone
        assert self.incoming is not None
        return await self.incoming.get()

    async def send(self, message: Message) -> None:
        if self.gone is not None:
            raise ClientDisconnected("the WebSocket client disconnected")
        self.peer.app_message(message)
        await self._flush()
        if message.get("type") == "websocket.accept" and self.reader is None:
            self.reader = asyncio.get_running_loop().create_task(self._read())

    async def _flush(self) -> None:
        assert self.write_lock is not None
        async with self.write_lock:
            data = self.peer.data_to_send()
            if not data:
                return
            try:
                await asyncio.get_running_loop().sock_sendall(self.sock, data)
            except OSError:
                self._lost()
                raise ClientDisconnected("the WebSocket client disconnected") from None

    def _lost(self) -> None:
        if self.gone is None:
            self.gone = {"type": "websocket.disconnect", "code": 1006, "reason": ""}
            assert self.incoming is not None
            try:
                self.incoming.put_nowait(self.gone)
            except asyncio.QueueFull:
                pass  # receive() returns it once the queue drained

    async def _read(self) -> None:
        """Read the client's frames into ``incoming`` until it disconnects."""
        loop = asyncio.get_running_loop()
        incoming = self.incoming
        assert incoming is not None
        while self.gone is None:
            try:
                data = await loop.sock_recv(self.sock, _READ_SIZE)
            except OSError:
                data = b""
            messages = self.peer.receive_data(data or None)
            try:
                await self._flush()
            except ClientDisconnected:
                return
            for message in messages:
                if message["type"] == "websocket.disconnect":
                    self.gone = message
                await incoming.put(message)  # waits while the app is behind
            if not data and self.gone is None:
                self._lost()
