"""The implementations a benchmark can wrap an app in: the bridge and its peers.

One place for the names every benchmark uses (``bridge``, ``a2wsgi``, ``asgiref``,
``uvicorn``, ``starlette``), so the per-request, streaming and end-to-end runs measure the same
constructors. ``BENCH_BRIDGE=<package>`` measures a saved copy of the bridge
instead (A/B runs). Floors and framework apps stay with the benchmark that uses them;
:data:`ENVIRON`, the WSGI environ of a plain ``GET /``, is the one they all start from, and
:data:`SCOPE` the same request as an ASGI scope.
"""

from __future__ import annotations

import importlib
import os
import warnings
from typing import Any

# A plain GET / as a WSGI server describes it; each benchmark copies it and adds
# its own wsgi.input (and method, length) where it needs them.
ENVIRON: dict[str, Any] = {
    "REQUEST_METHOD": "GET",
    "SCRIPT_NAME": "",
    "PATH_INFO": "/",
    "QUERY_STRING": "",
    "SERVER_NAME": "x",
    "SERVER_PORT": "80",
    "SERVER_PROTOCOL": "HTTP/1.1",
    "wsgi.url_scheme": "http",
    "HTTP_HOST": "x",
    "REMOTE_ADDR": "127.0.0.1",
    "REMOTE_PORT": "1",
}


# The same request as an ASGI server describes it.
SCOPE: dict[str, Any] = {
    "type": "http",
    "asgi": {"version": "3.0"},
    "http_version": "1.1",
    "method": "GET",
    "scheme": "http",
    "path": "/",
    "raw_path": b"/",
    "query_string": b"",
    "root_path": "",
    "headers": [(b"host", b"x")],
    "client": ("127.0.0.1", 1),
    "server": ("127.0.0.1", 80),
}


def bridge_package() -> Any:
    """The bridge package, or the saved copy that ``BENCH_BRIDGE`` names."""
    return importlib.import_module(os.environ.get("BENCH_BRIDGE", "bridge"))


def wrap_wsgi(name: str, wsgi_app: Any, **bridge_options: Any) -> Any:
    """``wsgi_app`` as an ASGI app, through the implementation called ``name``."""
    if name == "bridge":
        return bridge_package().WsgiToAsgi(wsgi_app, **bridge_options)
    if name == "a2wsgi":
        from a2wsgi import WSGIMiddleware

        return WSGIMiddleware(wsgi_app)
    if name == "asgiref":
        from asgiref.wsgi import WsgiToAsgi

        return WsgiToAsgi(wsgi_app)
    if name == "uvicorn":
        warnings.simplefilter("ignore")  # uvicorn's middleware is deprecated
        from uvicorn.middleware.wsgi import WSGIMiddleware as UvicornWSGIMiddleware

        return UvicornWSGIMiddleware(wsgi_app)
    if name == "starlette":
        warnings.simplefilter("ignore")  # deprecated in Starlette 1.x, still shipped
        from starlette.middleware.wsgi import WSGIMiddleware as StarletteWSGIMiddleware

        return StarletteWSGIMiddleware(wsgi_app)
    raise ValueError(f"unknown WSGI->ASGI implementation {name!r}")


def wrap_asgi(name: str, asgi_app: Any, **bridge_options: Any) -> Any:
    """``asgi_app`` as a WSGI app, through the implementation called ``name``."""
    if name == "bridge":
        return bridge_package().AsgiToWsgi(asgi_app, **bridge_options)
    if name == "a2wsgi":
        from a2wsgi import ASGIMiddleware

        return ASGIMiddleware(asgi_app)
    raise ValueError(f"unknown ASGI->WSGI implementation {name!r}")
