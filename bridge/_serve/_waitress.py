"""waitress: ``waitress.serve()`` in this process; it stops cleanly on KeyboardInterrupt."""

from __future__ import annotations

import logging
import signal
from typing import Any

from .._cli_load import EXIT_OK
from .._detect import WSGI
from ._base import Options, Plan, Server, close_bridge, interrupt, log_level, served_app


def run(app: Any, options: Options, plan: Plan) -> int:
    import waitress  # type: ignore[import-untyped]  # noqa: PLC0415

    logging.basicConfig(level=log_level(options))
    logging.getLogger("waitress").setLevel(log_level(options))
    served = served_app(app, plan.kind, plan.speaks, plan.pool_threads)
    signal.signal(signal.SIGTERM, interrupt)
    extra: dict[str, Any] = {"threads": options.threads} if options.threads else {}
    try:
        waitress.serve(
            served,
            host=options.host,
            port=options.port,
            url_prefix=options.root_path,
            **extra,
        )
    finally:
        close_bridge(served, app)
    return EXIT_OK


SERVERS = (Server("waitress", ("waitress",), "waitress", frozenset({WSGI}), run, threads=True),)
