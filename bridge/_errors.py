"""Exceptions shared by both directions.

`ClientDisconnected` and `RequestBodyTooLarge` are public (re-exported by `bridge`); the others
are how the pure translators tell the adapters that a request must be refused.
"""

from __future__ import annotations


class ClientDisconnected(OSError):
    """The other side of the bridge went away.

    Raised by `wsgi.input` reads in a WSGI app served by
    [`WsgiToAsgi`][bridge.WsgiToAsgi] when the client disconnected before the
    request body was complete (a truncated upload must never look like EOF),
    and by the ASGI `send` of [`AsgiToWsgi`][bridge.AsgiToWsgi] once the WSGI
    server has closed the response (ASGI HTTP spec 2.4). It subclasses
    `OSError`, as both specs ask, so code that already handles `OSError` from
    a socket handles it too.
    """


class RequestRejected(Exception):
    """The request cannot be handed to the app; answer ``status`` instead.

    Raised by the pure translators (``bad Content-Length``, too many duplicate
    headers, ...). The adapters turn it into a short ``text/plain`` response and
    never call the app.
    """

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"{status}: {reason}")
        self.status = status
        self.reason = reason


class RequestBodyTooLarge(OSError):
    """The request body grew past the adapter's ``max_body_size``.

    Raised by `wsgi.input` reads of [`WsgiToAsgi`][bridge.WsgiToAsgi] when a
    body without a declared length (chunked, HTTP/2) exceeds the limit; every
    later read raises it again. Unless the app catches it, the client gets
    `413 Content Too Large` (if the response has not started). It is an
    `OSError`, like every other failure to read the input.
    """

    status = 413


#: A WSGI environ key. True where the server raises an exception handed to
#: ``start_response(..., exc_info)`` before the headers went out, once the
#: replacement response was sent (WsgiToAsgi does). AsgiToWsgi then leaves the
#: logging of that exception to the server, so it is logged once.
RAISES_EXC_INFO = "bridge.raises_exc_info"


class RequestBodyTimeout(ClientDisconnected):
    """No request body data arrived for the adapter's ``body_timeout`` seconds.

    Raised by `wsgi.input` reads of [`WsgiToAsgi`][bridge.WsgiToAsgi] when a
    client stalls mid-upload, so that a slow or stalled client never holds a
    worker thread for longer than that. The client gets `408 Request
    Timeout` if the response has not started, whatever the app answers. It is a
    [`ClientDisconnected`][bridge.ClientDisconnected], so an `OSError`.
    """

    status = 408
