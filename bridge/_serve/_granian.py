"""granian: its command line as a child process, on its WSGI or its ASGI interface.

granian speaks both interfaces, so ``granian`` gives every app the one it
speaks already; ``granian-wsgi`` and ``granian-asgi`` pin the interface, so an
app of the other one goes through the bridge (an ASGI app through
``AsgiToWsgi`` on granian's WSGI workers, a WSGI app through ``WsgiToAsgi`` on
its ASGI workers). granian loads the app by import path in the worker
processes it spawns. Those end with ``os._exit()``, so ``atexit`` hooks never
run in them: ``bridge._cli_entry`` registers the lifespan shutdown of an
``AsgiToWsgi`` made there as a :mod:`multiprocessing` finalizer instead, which
a worker process runs on its way out.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from .._cli_load import EXIT_NOT_INSTALLED, CliError
from .._detect import ASGI3, WSGI
from ._base import ENTRY, Options, Plan, Server, child_env, run_child


def run(app: Any, options: Options, plan: Plan) -> int:
    from . import is_installed  # noqa: PLC0415 - looked up at call time (tests replace it)

    interface = "wsgi" if plan.speaks == WSGI else "asgi"
    command = [sys.executable, "-m", "granian", "--interface", interface]
    command += ["--host", options.host, "--port", str(options.port)]
    command += ["--log-level", options.log_level]
    if options.workers:
        command += ["--workers", str(options.workers)]
    if options.threads and plan.speaks == WSGI:
        command += ["--blocking-threads", str(options.threads)]
    if options.reload:
        if not is_installed("watchfiles"):
            raise CliError(
                "granian's reloader needs its reload extra: pip install 'granian[reload]'",
                EXIT_NOT_INSTALLED,
            )
        command += ["--reload", "--reload-paths", os.getcwd()]
    if options.root_path:
        command += ["--url-path-prefix", options.root_path]
    return run_child(plan.server.name, [*command, ENTRY], child_env(options, plan))


def _granian(name: str, speaks: frozenset[str], variant_of: str = "") -> Server:
    return Server(
        name,
        ("granian",),
        "granian",
        speaks,
        run,
        reloader=True,
        processes=True,
        threads=True,
        variant_of=variant_of,
    )


SERVERS = (
    _granian("granian", frozenset({WSGI, ASGI3})),
    _granian("granian-wsgi", frozenset({WSGI}), "granian"),
    _granian("granian-asgi", frozenset({ASGI3}), "granian"),
)
