"""wsgiref: the standard library's server, one thread per request; always installed."""

from __future__ import annotations

import logging
import signal
import socket
from typing import Any

from .._cli_load import EXIT_LISTEN, EXIT_OK, CliError
from .._detect import WSGI
from ._base import Options, Plan, Server, close_bridge, interrupt, log_level, mounted, served_app


def run(app: Any, options: Options, plan: Plan) -> int:
    from socketserver import ThreadingMixIn  # noqa: PLC0415
    from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server  # noqa: PLC0415

    quiet = log_level(options) > logging.INFO

    class Handler(WSGIRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            if not quiet:
                super().log_message(format, *args)

    class ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
        daemon_threads = True
        address_family = socket.AF_INET6 if ":" in options.host else socket.AF_INET

    served = served_app(app, plan.kind, plan.speaks, plan.pool_threads)
    try:
        httpd = make_server(
            options.host,
            options.port,
            mounted(served, options.root_path),
            server_class=ThreadingWSGIServer,
            handler_class=Handler,
        )
    except OSError as exc:
        raise CliError(
            f"cannot listen on {options.host}:{options.port}: {exc}", EXIT_LISTEN
        ) from None
    signal.signal(signal.SIGTERM, interrupt)
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        httpd.server_close()
        close_bridge(served, app)
    return EXIT_OK


SERVERS = (Server("wsgiref", (), "", frozenset({WSGI}), run),)
