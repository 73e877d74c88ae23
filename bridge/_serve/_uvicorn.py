"""uvicorn: ``uvicorn.run()`` in this process; by import path for ``--reload``/``--workers``.

uvicorn re-raises the signal that stopped it once it has shut down (lifespan
shutdown included); SIGTERM is made KeyboardInterrupt first, so the command
exits 0 instead of dying of the signal.
"""

from __future__ import annotations

import os
import signal
from typing import Any

from .._cli_load import EXIT_OK, EXIT_SERVER, CliError
from .._detect import ASGI3
from ._base import ENTRY, SPEC_ENV, Options, Plan, Server, interrupt, served_app, spec_for


def run(app: Any, options: Options, plan: Plan) -> int:
    import uvicorn  # noqa: PLC0415

    common: dict[str, Any] = {
        "host": options.host,
        "port": options.port,
        "root_path": options.root_path,
        "log_level": options.log_level,
        "interface": "asgi3",
    }
    signal.signal(signal.SIGTERM, interrupt)
    try:
        if options.reload or (options.workers or 1) > 1:
            # Both need an import string: reloaded and worker processes import the app anew.
            os.environ[SPEC_ENV] = spec_for(options, plan)
            uvicorn.run(
                ENTRY,
                reload=options.reload,
                reload_dirs=[os.getcwd()] if options.reload else None,
                workers=options.workers,
                **common,
            )
        else:
            uvicorn.run(served_app(app, plan.kind, plan.speaks, plan.pool_threads), **common)
    except SystemExit as exc:  # uvicorn exits 1 (cannot bind) or 3 (lifespan startup failed)
        if exc.code not in (None, 0):
            raise CliError(f"uvicorn stopped with status {exc.code}", EXIT_SERVER) from None
    return EXIT_OK


SERVERS = (
    Server(
        "uvicorn",
        ("uvicorn",),
        "uvicorn",
        frozenset({ASGI3}),
        run,
        reloader=True,
        processes=True,
    ),
)
