"""The implementations a benchmark can wrap an app in: the bridge and its peers.

One place for the names every benchmark uses (``bridge``, ``a2wsgi``, ``asgiref``,
``uvicorn``, ``starlette``), so the per-request, streaming and end-to-end runs measure the same
constructors. ``BENCH_BRIDGE=<package>`` measures a saved copy of the bridge
instead (A/B runs). Floors and framework apps stay with the benchmark that uses them.
"""

from __future__ import annotations

import importlib
import os
import warnings
from typing import Any


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
