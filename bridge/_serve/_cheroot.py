"""cheroot, CherryPy's threaded WSGI server: ``cheroot.wsgi.Server`` in this process.

SIGTERM becomes KeyboardInterrupt, which ends cheroot's serve loop; the server
is then stopped (its threads joined) and the ``AsgiToWsgi`` made here closed,
which runs the ASGI lifespan shutdown. cheroot has no root-path option of its
own, so ``--root-path`` mounts the app as wsgiref's does.
"""

from __future__ import annotations

import logging
import signal
from typing import Any

from .._cli_load import EXIT_LISTEN, EXIT_OK, CliError
from .._detect import WSGI
from ._base import Options, Plan, Server, close_bridge, interrupt, log_level, mounted, served_app


def run(app: Any, options: Options, plan: Plan) -> int:
    from cheroot import wsgi  # noqa: PLC0415

    logging.basicConfig(level=log_level(options))
    served = served_app(app, plan.kind, plan.speaks, plan.pool_threads)
    extra: dict[str, Any] = {"numthreads": options.threads} if options.threads else {}
    server = wsgi.Server((options.host, options.port), mounted(served, options.root_path), **extra)
    signal.signal(signal.SIGTERM, interrupt)
    try:
        try:
            server.prepare()  # binds the socket
        except OSError as exc:
            raise CliError(
                f"cannot listen on {options.host}:{options.port}: {exc}", EXIT_LISTEN
            ) from None
        server.serve()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        close_bridge(served, app)
    return EXIT_OK


SERVERS = (Server("cheroot", ("cheroot",), "cheroot", frozenset({WSGI}), run, threads=True),)
