"""werkzeug: ``run_simple()`` in this process, threaded, with werkzeug's stat reloader."""

from __future__ import annotations

import logging
import signal
from typing import Any

from .._cli_load import EXIT_OK
from .._detect import WSGI
from ._base import (
    Options,
    Plan,
    Server,
    close_bridge,
    interrupt,
    log_level,
    mounted,
    served_app,
)


def run(app: Any, options: Options, plan: Plan) -> int:
    from werkzeug.serving import run_simple  # noqa: PLC0415

    logging.getLogger("werkzeug").setLevel(log_level(options))
    served = served_app(app, plan.kind, plan.speaks, plan.pool_threads)
    signal.signal(signal.SIGTERM, interrupt)  # its serve loop stops on KeyboardInterrupt
    try:
        run_simple(
            options.host,
            options.port,
            mounted(served, options.root_path),
            use_reloader=options.reload,
            reloader_type="stat",  # watchdog is not a dependency
            threaded=True,
        )
    finally:
        close_bridge(served, app)
    return EXIT_OK


SERVERS = (Server("werkzeug", ("werkzeug",), "werkzeug", frozenset({WSGI}), run, reloader=True),)
