"""uWSGI: its ``uwsgi`` program as a child process, with a master and forked workers.

uWSGI is a C program that embeds Python (``pip install uwsgi`` builds it next
to the Python it was installed with). It runs here as

* ``--http``: its HTTP router in front of the workers, as uWSGI advises when
  clients connect to it directly, with ``--http-keepalive`` (without it the
  router closes every connection after the response without saying so, and a
  client reusing it loses its next request);
* ``--master --die-on-term``: a master that stops its workers in order on
  SIGTERM (without ``--die-on-term`` SIGTERM would reload them), the only
  process this command signals;
* ``--enable-threads``: uWSGI documents Python threads as off without it (and
  without ``--threads``), which would stop the ``AsgiToWsgi`` event loop
  thread; recent versions turn them on anyway, so it only makes sure;
* the app loaded once in the master and the workers forked from it (no
  ``--lazy-apps``): the bridge starts no thread before a worker's first
  request, so each worker starts its own loop and lifespan;
* ``--need-app``: a target that fails to load stops uWSGI instead of leaving
  it answering 500 to everything.

uWSGI has no root-path option for a module, so ``bridge._cli_entry`` mounts
the app itself (``"mount"`` in the plan). Each worker runs the ``AsgiToWsgi``'s
lifespan shutdown from its exit hook as it stops.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from .._detect import WSGI
from ._base import (
    ENTRY,
    Options,
    Plan,
    Server,
    bind,
    child_env,
    log_level,
    program,
    run_child,
)


def run(app: Any, options: Options, plan: Plan) -> int:
    command = [str(program("uwsgi")), "--http", bind(options.host, options.port)]
    command += ["--http-keepalive"]
    command += ["--module", ENTRY, "--virtualenv", sys.prefix]
    command += ["--master", "--die-on-term", "--need-app", "--enable-threads"]
    command += ["--processes", str(options.workers or 1)]
    if options.threads:
        command += ["--threads", str(options.threads)]
    if log_level(options) > logging.INFO:
        command += ["--disable-logging"]  # the per-request log lines
    env = child_env(options, plan, mount=True)
    return run_child("uwsgi", command, env)


SERVERS = (
    Server(
        "uwsgi",
        (),
        "uwsgi",
        frozenset({WSGI}),
        run,
        processes=True,
        threads=True,
        programs=("uwsgi",),
    ),
)
