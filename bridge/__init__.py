"""bridge: spec-exact WSGI <-> ASGI adapters in both directions.

The public API is exactly what this module exports:

* `WsgiToAsgi` (alias `WSGIMiddleware`): serve a WSGI app from an ASGI server.
* `AsgiToWsgi` (alias `ASGIMiddleware`): serve an ASGI app from a WSGI server.
* `ClientDisconnected`: the `OSError` raised when the other side went away.
* `__version__`: the package version, as a string.
* `RequestBodyTooLarge`: the `OSError` a `wsgi.input` read raises past `max_body_size`.
* `RequestBodyTimeout`: the `ClientDisconnected` a `wsgi.input` read raises after
  `body_timeout` seconds without body data.
"""

from ._asgi_to_wsgi import ASGIMiddleware, AsgiToWsgi
from ._errors import ClientDisconnected, RequestBodyTimeout, RequestBodyTooLarge
from ._version import __version__
from ._wsgi_to_asgi import WSGIMiddleware, WsgiToAsgi

__all__ = [
    "ASGIMiddleware",
    "AsgiToWsgi",
    "ClientDisconnected",
    "RequestBodyTimeout",
    "RequestBodyTooLarge",
    "WSGIMiddleware",
    "WsgiToAsgi",
    "__version__",
]
