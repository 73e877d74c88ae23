"""daphne: its command line as a child process (its ``Server`` needs its CLI's reactor setup)."""

from __future__ import annotations

import sys
from typing import Any

from .._detect import ASGI3
from ._base import ENTRY, Options, Plan, Server, child_env, run_child


def run(app: Any, options: Options, plan: Plan) -> int:
    verbosity = {"debug": "2", "info": "1"}.get(options.log_level, "0")
    command = [sys.executable, "-m", "daphne", "-b", options.host, "-p", str(options.port)]
    command += ["-v", verbosity]
    if options.root_path:
        command += ["--root-path", options.root_path]
    return run_child("daphne", [*command, ENTRY], child_env(options, plan))


SERVERS = (
    Server(
        "daphne",
        ("daphne",),
        "daphne",
        frozenset({ASGI3}),
        run,
        note="daphne does not run the ASGI lifespan protocol",
    ),
)
