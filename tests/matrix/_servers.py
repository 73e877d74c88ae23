"""The matrix's servers: how to start each one on a ``module:attr`` target.

The process handling (free port, readiness, port retry, stop by PID) is
tests/servers.py's :class:`~servers.ServerProcess`; here is only the table of
servers. A matrix server is ready when an HTTP request to ``/hello`` is
answered, not when its port is open, because a gunicorn master accepts
connections before its worker has imported the app.

:data:`HOSTS` are the deployment hosts whose cells check more than the corpus
(test_matrix.py's ``test_host_lifecycle``): lifespan startup in every worker
that serves, a stop by PID within :data:`STOP_SECONDS`, and whether lifespan
shutdown runs there at all (:attr:`Host.shutdown`, as measured; see
docs/compatibility.md).
"""

from __future__ import annotations

import importlib.util
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from servers import (
    PY,
    UWSGI,
    Command,
    ServerProcess,
    cheroot,
    daphne,
    granian,
    gunicorn,
    hypercorn,
    mod_wsgi_blocker,
    mod_wsgi_express,
    script,
    uvicorn,
    uwsgi,
    waitress,
)

STARTUP_SECONDS = 60
PORT_ATTEMPTS = 3

Builder = Callable[[str], Command]

# ASGI servers (they run WsgiToAsgi(wsgi_app), or an ASGI app natively).
ASGI_SERVERS: dict[str, Builder] = {
    "uvicorn": uvicorn,
    "hypercorn-asyncio": lambda target: hypercorn(target, "asyncio"),
    "hypercorn-trio": lambda target: hypercorn(target, "trio"),
    "daphne": daphne,
    "gunicorn-uvicorn-worker": lambda target: gunicorn(
        target, "-k", "uvicorn_worker.UvicornWorker", "-w", "1"
    ),
}

# WSGI servers (they run AsgiToWsgi(asgi_app), or a WSGI app natively).
WSGI_SERVERS: dict[str, Builder] = {
    "gunicorn-sync": lambda target: gunicorn(target, "-k", "sync", "-w", "1"),
    "gunicorn-gthread": lambda target: gunicorn(
        target, "-k", "gthread", "--threads", "4", "-w", "1"
    ),
    "waitress": waitress,
    "wsgiref": lambda target: script(target, "wsgiref"),
    "werkzeug": lambda target: script(target, "werkzeug"),
}

# A host must have exited this long after its stop signal (all of them take
# about a second or less; uWSGI's master waits a second for its workers).
STOP_SECONDS = 20


def _missing(module: str, package: str) -> Callable[[Path], str | None]:
    def blocker(markers: Path) -> str | None:
        if importlib.util.find_spec(module) is None:
            return f"{package} is not installed (pip install {package}, or make venv)"
        return None

    return blocker


def _no_uwsgi(markers: Path) -> str | None:
    return None if UWSGI is not None else "uWSGI is not installed (pip install uwsgi)"


@dataclass(frozen=True)
class Host:
    """A deployment host: how to start it, and what its cell must find."""

    kind: str  # "asgi": an ASGI app through AsgiToWsgi; "wsgi": a WSGI app through WsgiToAsgi
    label: str  # the command line, as docs/compatibility.md shows it
    command: Callable[[str, Path], Command]  # (target, markers folder) -> command
    blocker: Callable[[Path], str | None]  # why it cannot run here (the cell skips), or None
    prefork: bool = False  # a master process forks the workers and serves nothing itself
    stop_signal: signal.Signals = signal.SIGTERM
    shutdown: bool = True  # lifespan shutdown runs in every worker that started up (measured)
    lifespan: bool = True  # the app reports its lifespan startup (GET /worker)
    # Stopped while a request is in flight (measured): does the client get its
    # answer, and does lifespan shutdown run in the worker that was busy with it?
    in_flight_answered: bool = False
    in_flight_shutdown: bool = False
    # For a host that is ready (answers /hello) before all its workers are: whether
    # its log says they all are. The tests stop it only then.
    all_started: Callable[[str], bool] | None = None


def _granian_started(workers: int) -> Callable[[str], bool]:
    # granian 2.8 loses a SIGTERM that reaches a worker before it logged "Started":
    # that worker waits for ever, and so does granian's main process for it.
    return lambda log: log.count("Started worker-") >= workers


_UWSGI_THREADS = ("--enable-threads", "--threads", "4")
# uWSGI's documented way to make SIGTERM a graceful stop: the workers finish their
# requests (and so run atexit) instead of being killed after a second.
_UWSGI_GRACEFUL = ("--hook-master-start", "unix_signal:15 gracefully_kill_them_all")
_MOD_WSGI_POOL = ("--processes", "2", "--threads", "4", "--chunked-request")
HOSTS: dict[str, Host] = {
    "uwsgi-http": Host(
        "asgi",
        "uwsgi --http (no --enable-threads, one process)",
        lambda target, _: uwsgi(target, "--http"),
        _no_uwsgi,
        prefork=True,
    ),
    "uwsgi-http-socket-threads": Host(
        "asgi",
        "uwsgi --http-socket --enable-threads --threads 4",
        lambda target, _: uwsgi(target, "--http-socket", *_UWSGI_THREADS),
        _no_uwsgi,
        prefork=True,
    ),
    "uwsgi-prefork": Host(
        "asgi",
        "uwsgi --http-socket --processes 3 (the app imported in the master, then forked)",
        lambda target, _: uwsgi(target, "--http-socket", "--processes", "3"),
        _no_uwsgi,
        prefork=True,
    ),
    "uwsgi-prefork-lazy-apps": Host(
        "asgi",
        "uwsgi --http --processes 2 --enable-threads --threads 4 --lazy-apps",
        lambda target, _: uwsgi(
            target, "--http", "--processes", "2", *_UWSGI_THREADS, "--lazy-apps"
        ),
        _no_uwsgi,
        prefork=True,
    ),
    "uwsgi-graceful": Host(
        "asgi",
        'uwsgi --http-socket --processes 2 --hook-master-start "unix_signal:15 '
        'gracefully_kill_them_all" (SIGTERM stops gracefully)',
        lambda target, _: uwsgi(target, "--http-socket", "--processes", "2", *_UWSGI_GRACEFUL),
        _no_uwsgi,
        prefork=True,
        in_flight_answered=True,
        in_flight_shutdown=True,
    ),
    "mod_wsgi-daemon": Host(
        "asgi",
        "mod_wsgi-express start-server --processes 2 --threads 4 --chunked-request "
        "(daemon mode, main interpreter)",
        lambda target, markers: mod_wsgi_express(target, markers / "apache", *_MOD_WSGI_POOL),
        mod_wsgi_blocker,
        prefork=True,
        in_flight_shutdown=True,
    ),
    "mod_wsgi-subinterpreter": Host(
        "asgi",
        "mod_wsgi-express start-server --processes 2 --threads 4 --chunked-request "
        "--application-group bridge "
        "(daemon mode, a sub-interpreter)",
        lambda target, markers: mod_wsgi_express(
            target, markers / "apache", *_MOD_WSGI_POOL, "--application-group", "bridge"
        ),
        mod_wsgi_blocker,
        prefork=True,
        in_flight_shutdown=True,
    ),
    "cheroot": Host(
        "asgi",
        "cheroot --threads 4 (its command line; stopped with SIGTERM)",
        lambda target, _: cheroot(target, "--threads", "4"),
        _missing("cheroot", "cheroot"),
        shutdown=False,
    ),
    "cheroot-sigint": Host(
        "asgi",
        "cheroot --threads 4 (its command line; stopped with SIGINT)",
        lambda target, _: cheroot(target, "--threads", "4"),
        _missing("cheroot", "cheroot"),
        stop_signal=signal.SIGINT,
        in_flight_answered=True,
        in_flight_shutdown=True,
    ),
    "gunicorn-gevent": Host(
        "asgi",
        "gunicorn -k gevent -w 2",
        lambda target, _: gunicorn(target, "-k", "gevent", "-w", "2"),
        _missing("gevent", "gevent"),
        prefork=True,
        in_flight_answered=True,
        in_flight_shutdown=True,
    ),
    "granian-wsgi": Host(
        "asgi",
        "granian --interface wsgi --workers 2 --blocking-threads 4",
        lambda target, _: granian(target, "wsgi", "--workers", "2", "--blocking-threads", "4"),
        _missing("granian", "granian"),
        prefork=True,
        in_flight_answered=True,
        in_flight_shutdown=True,
        all_started=_granian_started(2),
    ),
    "granian-asgi": Host(
        "wsgi",
        "granian --interface asgi --workers 2",
        lambda target, _: granian(target, "asgi", "--workers", "2"),
        _missing("granian", "granian"),
        prefork=True,
        lifespan=False,
        all_started=_granian_started(2),
    ),
}

SERVERS = {**ASGI_SERVERS, **WSGI_SERVERS}


# Starts a host with SIGINT at its default, as a terminal or a process manager would,
# even when this process runs with SIGINT ignored (a background job: an ignored signal
# is inherited, and then cheroot would not stop on SIGINT, nor uWSGI's lazy workers on
# their master's). The exec keeps the PID that the tests signal.
_DEFAULT_SIGINT = (
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
    "os.execv(sys.argv[1], sys.argv[1:])"
)


def _with_default_sigint(command: Command) -> Command:
    return lambda port: [PY, "-c", _DEFAULT_SIGINT, *command(port)]


def wait_all_started(host: Host, process: ServerProcess) -> None:
    """Return once ``host``'s log says all its workers started (bounded)."""
    if host.all_started is None:
        return
    deadline = time.monotonic() + STARTUP_SECONDS
    while not host.all_started(process.log.read_text(errors="replace")):
        if time.monotonic() > deadline:
            raise AssertionError(f"{process.name}: not all workers started (log: {process.log})")
        time.sleep(0.05)  # polling the server's log, bounded by the deadline


def start(server: str, target: str, log: Path, markers: Path | None = None) -> ServerProcess:
    """``server`` serving ``target``, ready once ``GET /hello`` is answered.

    ``markers`` is where the app leaves its files (``MARKER_DIR``); the log's
    folder if not given.
    """
    markers = log.parent if markers is None else markers
    host = HOSTS.get(server)
    command = host.command(target, markers) if host is not None else SERVERS[server](target)
    if host is not None:
        command = _with_default_sigint(command)
    return ServerProcess(
        f"{server} {target}",
        command,
        markers,
        log=log,
        ready_path="/hello",
        startup_seconds=STARTUP_SECONDS,
        port_attempts=PORT_ATTEMPTS,
    )
