"""Apache with mod_wsgi: ``mod_wsgi-express start-server`` as a child process, daemon mode.

``pip install mod_wsgi`` compiles an Apache module and installs the
``mod_wsgi-express`` program, which writes an Apache configuration and runs
Apache in the foreground; the build needs Apache's development files
(Debian's ``apache2-dev``), hence the install hint. mod_wsgi-express always
runs the app in mod_wsgi daemon processes (``--processes``, ``--threads``),
in the main interpreter, which extension modules built with PyO3 need.

The app is named as a module (``--application-type module``) so nothing is
written but the server root, a temporary folder removed afterwards; the plan
reaches the daemon processes in the environment, which Apache passes on.
``--mount-point`` is mod_wsgi's own root path. Apache refuses to serve as
root, so this command does too (:func:`refuse`), saying so, rather than pick
a user. Apache stops on SIGTERM, and a daemon process runs Python's
``atexit`` hooks (the bridge's lifespan shutdown among them) as its
interpreter is destroyed.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from typing import Any

from .._detect import WSGI
from ._base import Options, Plan, Server, child_env, log_level, program, run_child

_APACHE_LEVELS = {"critical": "crit", "warning": "warn"}


def refuse() -> str:
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        # Apache refuses to serve as root, and mod_wsgi-express would need --user/--group,
        # which this command does not guess: it would silently run the app as someone else.
        return (
            "Apache does not serve as root: run `bridge serve --server mod_wsgi` as an "
            "ordinary user, or run mod_wsgi-express yourself with --user and --group "
            "(docs/deployment.md has the command)"
        )
    return ""


def run(app: Any, options: Options, plan: Plan) -> int:
    server_root = tempfile.mkdtemp(prefix="bridge-mod_wsgi-")
    command = [str(program("mod_wsgi-express")), "start-server"]
    command += ["--application-type", "module", "--callable-object", "app"]
    command += ["--host", options.host, "--port", str(options.port)]
    command += ["--server-root", server_root, "--log-to-terminal"]
    command += ["--log-level", _APACHE_LEVELS.get(options.log_level, options.log_level)]
    command += ["--processes", str(options.workers or 1)]
    if options.threads:
        command += ["--threads", str(options.threads)]
    if options.root_path:
        command += ["--mount-point", options.root_path]
    if log_level(options) <= logging.INFO:
        command += ["--access-log"]
    command += ["--python-path", os.getcwd(), "bridge._cli_entry"]
    try:
        return run_child("mod_wsgi", command, child_env(options, plan))
    finally:
        shutil.rmtree(server_root, ignore_errors=True)


SERVERS = (
    Server(
        "mod_wsgi",
        ("mod_wsgi",),
        "",
        frozenset({WSGI}),
        run,
        processes=True,
        threads=True,
        programs=("mod_wsgi-express",),
        refuse=refuse,
        hint="apt-get install apache2-dev (Apache's development files, on Debian or Ubuntu), "
        "then pip install mod_wsgi",
    ),
)
