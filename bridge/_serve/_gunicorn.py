"""gunicorn: its command line as a child process, on gthread, uvicorn-worker or gevent workers.

gunicorn only loads an app by import path in the workers it forks, and its
embedding API needs its command-line configuration machinery anyway, so it
runs as ``python -m gunicorn ... bridge._cli_entry:app``.

``gunicorn`` picks the worker class from the app: uvicorn-worker's
``UvicornWorker`` (through ``bridge._cli_worker``, which adds the root path)
for an ASGI app when uvicorn-worker is installed, else ``gthread``; a
``--worker-class`` naming a uvicorn worker makes gunicorn speak ASGI.
``gunicorn-gevent`` runs the gevent worker, which monkey-patches the standard
library in each worker before it loads the app: an ASGI app's ``AsgiToWsgi``
then runs its event loop in a greenlet, and each request in another.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from .._detect import ASGI3, WSGI
from ._base import (
    ASGI_WORKER,
    ENTRY,
    Options,
    Plan,
    Server,
    bind,
    child_env,
    run_child,
)


def run(app: Any, options: Options, plan: Plan) -> int:
    command = [sys.executable, "-m", "gunicorn", "-b", bind(options.host, options.port)]
    command += ["-k", str(plan.worker_class), "--log-level", options.log_level]
    if options.workers:
        command += ["-w", str(options.workers)]
    if options.threads and plan.speaks == WSGI:
        command += ["--threads", str(options.threads)]
    if options.reload:
        command += ["--reload"]
    if options.log_level in ("info", "debug"):
        command += ["--access-logfile", "-"]
    env = child_env(options, plan)
    if options.root_path and plan.speaks == WSGI:
        env["SCRIPT_NAME"] = options.root_path  # gunicorn's own way to set a mount point
    return run_child("gunicorn", [*command, ENTRY], env)


def choose_worker(
    native: str, worker_class: str | None, is_installed: Callable[[str], bool]
) -> tuple[str, str | None]:
    if worker_class is None:
        if native == ASGI3 and is_installed("uvicorn_worker"):
            worker_class = ASGI_WORKER
        else:
            worker_class = "gthread"
    return (ASGI3 if "uvicorn" in worker_class.lower() else WSGI), worker_class


def notice(kind: str, plan: Plan, options: Options) -> str:
    if kind != WSGI and plan.speaks == WSGI and not options.worker_class:
        return (
            "uvicorn-worker is not installed, so gunicorn runs the ASGI app through "
            "bridge.AsgiToWsgi on gthread workers (pip install 'wsgi-asgi-bridge[gunicorn]' "
            "adds it)"
        )
    return ""


SERVERS = (
    Server(
        "gunicorn",
        ("gunicorn",),
        "gunicorn",
        frozenset({WSGI}),
        run,
        reloader=True,
        processes=True,
        worker_classes=("*",),
        default_class="gthread",
        threads=True,
        choose_worker=choose_worker,
        notice=notice,
    ),
    Server(
        "gunicorn-gevent",
        ("gunicorn", "gevent"),
        "gevent",
        frozenset({WSGI}),
        run,
        reloader=True,
        processes=True,
        default_class="gevent",
        variant_of="gunicorn",
    ),
)
