"""cheroot, CherryPy's threaded WSGI server: ``cheroot.wsgi.Server`` in this process.

SIGTERM and SIGINT call cheroot's ``stop()`` from another thread, which ends
its serve loop; the ``AsgiToWsgi`` made here is then closed, which runs the
ASGI lifespan shutdown. cheroot has no root-path option of its
own, so ``--root-path`` mounts the app as wsgiref's does.
"""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType
from typing import Any

from .._cli_load import EXIT_LISTEN, EXIT_OK, CliError
from .._detect import WSGI
from ._base import Options, Plan, Server, close_bridge, log_level, mounted, served_app


def run(app: Any, options: Options, plan: Plan) -> int:
    from cheroot import wsgi  # noqa: PLC0415

    logging.basicConfig(level=log_level(options))
    served = served_app(app, plan.kind, plan.speaks, plan.pool_threads)
    extra: dict[str, Any] = {"numthreads": options.threads} if options.threads else {}
    server = wsgi.Server((options.host, options.port), mounted(served, options.root_path), **extra)

    def stop(signum: int, frame: FrameType | None) -> None:
        # From another thread: an exception raised into the serve loop could leave one of
        # cheroot's locks held, and stop() waits for the loop.
        threading.Thread(target=server.stop, name="cheroot stop").start()

    try:
        server.prepare()  # binds the socket
    except OSError as exc:
        raise CliError(
            f"cannot listen on {options.host}:{options.port}: {exc}", EXIT_LISTEN
        ) from None
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        server.serve()  # returns once stop() has run
    finally:
        server.stop()  # idempotent; joins its threads
        close_bridge(served, app)
    return EXIT_OK


SERVERS = (Server("cheroot", ("cheroot",), "cheroot", frozenset({WSGI}), run, threads=True),)
