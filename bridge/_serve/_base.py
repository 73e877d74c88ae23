"""What every server module of ``bridge serve`` shares: the server record, the plan, wrapping.

Theory of operation: a server module describes its server(s) with :class:`Server`
records, one field per question the command asks (is it installed, which
interfaces does it speak, which options does it have) plus ``run``, the
function that starts it. :func:`served_app` is the one place an app is wrapped
or unwrapped for the interface a server speaks. Servers that load the app by
import path get the plan as JSON in ``BRIDGE_SERVE_SPEC`` (:func:`spec_for`)
and are started as a child process by :func:`run_child`, which forwards
signals and maps the exit status to the command's exit codes. This module
imports no server: each server module imports its own, when it runs.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from .._cli_load import EXIT_LISTEN, EXIT_OK, EXIT_SERVER, CliError, absolute_target
from .._detect import ASGI2, ASGI3, WSGI

SPEC_ENV = "BRIDGE_SERVE_SPEC"
ENTRY = "bridge._cli_entry:app"
ASGI_WORKER = "bridge._cli_worker.UvicornWorker"
LOG_LEVELS = ("critical", "error", "warning", "info", "debug")
NAMES = {WSGI: "WSGI", ASGI3: "ASGI 3", ASGI2: "ASGI 2"}


@dataclass
class Options:
    target: str
    interface: str | None = None
    server: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int | None = None
    threads: int | None = None
    root_path: str = ""
    log_level: str = "info"
    reload: bool = False
    worker_class: str | None = None


# (app's native interface, --worker-class, is_installed) -> (what it speaks, worker class)
ChooseWorker = Callable[[str, "str | None", Callable[[str], bool]], tuple[str, "str | None"]]


@dataclass(frozen=True)
class Server:
    name: str
    packages: tuple[str, ...]  # import names that must be installed
    extra: str  # the wsgi-asgi-bridge extra that installs them
    speaks: frozenset[str]  # interfaces served natively
    run: Callable[[Any, Options, Plan], int]
    reloader: bool = False
    processes: bool = False  # has worker processes (--workers)
    worker_classes: tuple[str, ...] = ()  # () = no --worker-class; ("*",) = any
    default_class: str | None = None
    note: str = ""
    threads: bool = False  # has a thread pool of its own for a WSGI app (--threads)
    programs: tuple[str, ...] = ()  # executables that must be installed too
    hint: str = ""  # how to install it, when one extra is not enough
    variant_of: str = ""  # another way to run the server named here (kept out of hint lists)
    choose_worker: ChooseWorker | None = None  # when the app decides the worker class
    notice: Callable[[str, Plan, Options], str] | None = None  # printed before serving
    refuse: Callable[[], str] | None = None  # why it cannot run here, if it cannot


@dataclass
class Plan:
    server: Server
    kind: str  # the app's interface
    speaks: str  # what the server is given: WSGI or ASGI3
    worker_class: str | None
    wrapping: str
    pool_threads: int | None  # WsgiToAsgi pool size, when --threads means that


def program(name: str) -> str | None:
    """The executable ``name``: next to this Python (a venv's ``bin``) first, then on PATH."""
    return shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)


def served_app(app: Any, kind: str, speaks: str, pool_threads: int | None = None) -> Any:
    """The object to hand a server that speaks ``speaks``."""
    from asgiref.compatibility import guarantee_single_callable  # noqa: PLC0415

    from .. import AsgiToWsgi, WsgiToAsgi  # noqa: PLC0415

    if kind == ASGI2:
        app, kind = guarantee_single_callable(app), ASGI3  # type: ignore[no-untyped-call]
    if speaks == kind:
        return app
    if speaks == WSGI:
        return app.app if isinstance(app, WsgiToAsgi) else AsgiToWsgi(app)
    if isinstance(app, AsgiToWsgi):
        return app.app
    return WsgiToAsgi(app) if pool_threads is None else WsgiToAsgi(app, workers=pool_threads)


def spec_for(options: Options, plan: Plan, *, mount: bool = False) -> str:
    """The plan for ``bridge._cli_entry``; ``mount``: it applies ``--root-path`` itself."""
    return json.dumps(
        {
            "target": absolute_target(options.target),
            "interface": plan.kind,
            "speaks": plan.speaks,
            "pool_threads": plan.pool_threads,
            "root_path": options.root_path,
            "mount": mount,
        }
    )


def check_port(host: str, port: int) -> None:
    """Fail early, with the fix, when ``host:port`` cannot be listened on."""
    if port == 0 or os.environ.get("WERKZEUG_RUN_MAIN") == "true":
        return  # any free port; or werkzeug's reloader parent already holds the socket
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise CliError(
            f"cannot listen on {host!r}: {exc.strerror}; check --host", EXIT_LISTEN
        ) from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        if os.name != "nt":  # as servers do: ignore TIME_WAIT, not a live listener
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            hint = (
                "another program listens there: stop it or choose another --port"
                if exc.errno in (98, 48, 10048)  # EADDRINUSE on Linux, macOS, Windows
                else "choose another --host/--port (ports below 1024 need privileges)"
            )
            raise CliError(
                f"cannot listen on {host}:{port}: {reason}; {hint}", EXIT_LISTEN
            ) from None


def bind(host: str, port: int) -> str:
    """``host:port`` as servers' command lines take it (an IPv6 host in brackets)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class RootPath:
    """For WSGI servers without a root-path option: SCRIPT_NAME = the mount point.

    The mount point moves from PATH_INFO to SCRIPT_NAME only on a segment
    boundary (``/app`` or ``/app/...``, never ``/apps``); a request outside the
    mount gets 404 without reaching the app, as waitress's ``url_prefix`` does,
    so that SCRIPT_NAME + PATH_INFO always rebuilds the URL that was asked for.
    """

    def __init__(self, app: Any, root_path: str) -> None:
        self.app = app
        self.root_path = root_path.rstrip("/")

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        root = self.root_path
        if root and not (path == root or path.startswith(root + "/")):
            body = b"Not Found: outside the --root-path this application is mounted at\n"
            headers = [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))]
            start_response("404 Not Found", headers)
            return [body]
        environ["PATH_INFO"] = path[len(root) :]
        environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + root
        return self.app(environ, start_response)  # type: ignore[no-any-return]


def mounted(wsgi: Any, root_path: str) -> Any:
    return RootPath(wsgi, root_path) if root_path else wsgi


def interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def close_bridge(served: Any, app: Any) -> None:
    """Run the lifespan shutdown of an ASGI app that was bridged here (not the user's own)."""
    from .. import AsgiToWsgi  # noqa: PLC0415

    if served is not app and isinstance(served, AsgiToWsgi):
        served.close()


def log_level(options: Options) -> int:
    return int(getattr(logging, options.log_level.upper()))


def run_child(name: str, command: list[str], env: dict[str, str]) -> int:
    """Run ``command``, pass SIGTERM/SIGHUP on to it, and map its exit status."""
    proc = subprocess.Popen(command, env=env)

    def forward(signum: int, frame: FrameType | None) -> None:
        if proc.poll() is None:
            proc.send_signal(signum)

    previous = {
        signal.SIGINT: signal.signal(signal.SIGINT, signal.SIG_IGN),
        signal.SIGTERM: signal.signal(signal.SIGTERM, forward),
    }
    if hasattr(signal, "SIGHUP"):
        previous[signal.SIGHUP] = signal.signal(signal.SIGHUP, forward)
    try:
        code = proc.wait()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    # SIGINT/SIGTERM that the server did not handle count as a clean stop.
    if code in (0, -signal.SIGTERM, -signal.SIGINT):
        return EXIT_OK
    raise CliError(f"{name} stopped with status {code} (its output above says why)", EXIT_SERVER)


def child_env(options: Options, plan: Plan, *, mount: bool = False) -> dict[str, str]:
    """This environment, plus the plan, plus the current directory on PYTHONPATH."""
    env = {**os.environ, SPEC_ENV: spec_for(options, plan, mount=mount)}
    cwd = os.getcwd()
    env["PYTHONPATH"] = os.pathsep.join(p for p in (cwd, env.get("PYTHONPATH", "")) if p)
    return env
