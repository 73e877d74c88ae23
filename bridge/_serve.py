"""Run an application on a chosen server, bridged when the server speaks the other interface.

Theory of operation: each server is described once in :data:`SERVERS` (which
interfaces it speaks natively, which options it has, which extra installs it).
:func:`make_plan` decides, for one app and one server, what the server will be
given (``wsgi`` or ``asgi3``) and so which wrapping applies:

* the app already speaks it: as is (an ASGI 2 double callable is made single
  with asgiref's ``guarantee_single_callable`` first);
* a WSGI app on an ASGI server: :class:`bridge.WsgiToAsgi` (``--threads`` sizes
  its pool); an ASGI app on a WSGI server: :class:`bridge.AsgiToWsgi`;
* an app the user already wrapped with one bridge, sent to a server of the
  other interface, is unwrapped instead of wrapped twice.

Servers with a Python API that accepts an app object run in this process
(uvicorn, waitress, werkzeug, wsgiref; hypercorn through ``hypercorn.run``).
SIGTERM is turned into KeyboardInterrupt for the WSGI ones, whose serve loops
stop on it, and the AsgiToWsgi made here is closed afterwards, which runs the
ASGI lifespan shutdown. uvicorn and hypercorn handle SIGINT/SIGTERM themselves.

gunicorn, daphne and granian run as a child process of their own command line
(``python -m NAME``): gunicorn and granian only ever load an app by import path
in worker processes they fork or spawn, gunicorn's embedding API
(``BaseApplication``) needs its command-line configuration machinery anyway,
and daphne's ``Server`` needs a Twisted reactor set up exactly as its CLI does.
The child is pointed at ``bridge._cli_entry:app``, a fixed module that rebuilds
the served app from the JSON plan in the ``BRIDGE_SERVE_SPEC`` environment
variable, so no file is generated. This process forwards SIGTERM/SIGHUP to the
child, ignores SIGINT (Ctrl-C in a terminal reaches the child directly, as it
is in the same process group) and exits with a documented code.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from types import FrameType
from typing import Any

from ._cli_load import (
    EXIT_LISTEN,
    EXIT_NOT_INSTALLED,
    EXIT_OK,
    EXIT_SERVER,
    EXIT_USAGE,
    CliError,
    absolute_target,
)
from ._detect import ASGI2, ASGI3, WSGI

SPEC_ENV = "BRIDGE_SERVE_SPEC"
ENTRY = "bridge._cli_entry:app"
ASGI_WORKER = "bridge._cli_worker.UvicornWorker"
LOG_LEVELS = ("critical", "error", "warning", "info", "debug")
NAMES = {WSGI: "WSGI", ASGI3: "ASGI 3", ASGI2: "ASGI 2"}


@dataclass(frozen=True)
class Server:
    name: str
    packages: tuple[str, ...]  # import names that must be installed
    extra: str  # the wsgi-asgi-bridge extra that installs them
    speaks: frozenset[str]  # interfaces served natively
    reloader: bool = False
    processes: bool = False  # has worker processes (--workers)
    worker_classes: tuple[str, ...] = ()  # () = no --worker-class; ("*",) = any
    default_class: str | None = None
    note: str = ""


SERVERS: dict[str, Server] = {
    server.name: server
    for server in [
        Server("uvicorn", ("uvicorn",), "uvicorn", frozenset({ASGI3}), True, True),
        Server(
            "hypercorn",
            ("hypercorn",),
            "hypercorn",
            frozenset({ASGI3}),
            True,
            True,
            ("asyncio", "uvloop", "trio"),
            "asyncio",
        ),
        Server(
            "hypercorn-trio",
            ("hypercorn", "trio"),
            "hypercorn",
            frozenset({ASGI3}),
            True,
            True,
            ("trio",),
            "trio",
        ),
        Server(
            "daphne",
            ("daphne",),
            "daphne",
            frozenset({ASGI3}),
            note="daphne does not run the ASGI lifespan protocol",
        ),
        Server("granian", ("granian",), "granian", frozenset({WSGI, ASGI3}), True, True),
        Server(
            "gunicorn",
            ("gunicorn",),
            "gunicorn",
            frozenset({WSGI}),
            True,
            True,
            ("*",),
            "gthread",
        ),
        Server("waitress", ("waitress",), "waitress", frozenset({WSGI})),
        Server("werkzeug", ("werkzeug",), "werkzeug", frozenset({WSGI}), True),
        Server("wsgiref", (), "", frozenset({WSGI})),
    ]
}


def is_installed(package: str) -> bool:
    """Whether ``package`` can be imported (tests monkeypatch this)."""
    try:
        return importlib.util.find_spec(package) is not None
    except (ImportError, ValueError):
        return False


def install_hint(server: Server) -> str:
    return f"pip install 'wsgi-asgi-bridge[{server.extra}]'"


def server_installed(server: Server) -> bool:
    return all(is_installed(package) for package in server.packages)


def default_server(kind: str) -> str:
    """uvicorn for ASGI apps when it is installed; otherwise wsgiref, which always is."""
    if kind != WSGI and server_installed(SERVERS["uvicorn"]):
        return "uvicorn"
    return "wsgiref"


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


@dataclass
class Plan:
    server: Server
    kind: str  # the app's interface
    speaks: str  # what the server is given: WSGI or ASGI3
    worker_class: str | None
    wrapping: str
    pool_threads: int | None  # WsgiToAsgi pool size, when --threads means that


def _is_bridge(app: Any, name: str) -> bool:
    from . import AsgiToWsgi, WsgiToAsgi  # noqa: PLC0415 - keep `inspect` light

    return isinstance(app, AsgiToWsgi if name == "AsgiToWsgi" else WsgiToAsgi)


def describe_wrapping(app: Any, kind: str, speaks: str) -> str:
    native = ASGI3 if kind == ASGI2 else kind
    if native == speaks:
        if kind == ASGI2:
            return "through asgiref's guarantee_single_callable (ASGI 2 to 3)"
        return "as is"
    if speaks == WSGI:
        if _is_bridge(app, "WsgiToAsgi"):
            return "its WSGI app, taken out of the bridge.WsgiToAsgi"
        return "through bridge.AsgiToWsgi"
    if _is_bridge(app, "AsgiToWsgi"):
        return "its ASGI app, taken out of the bridge.AsgiToWsgi"
    return "through bridge.WsgiToAsgi"


def make_plan(app: Any, kind: str, server: Server, options: Options) -> Plan:
    """Decide what ``server`` is given; raise CliError for options it does not have."""
    native = ASGI3 if kind == ASGI2 else kind
    worker_class = options.worker_class
    if worker_class is not None and not server.worker_classes:
        raise CliError(f"{server.name} has no worker classes; drop --worker-class", EXIT_USAGE)
    if (
        worker_class is not None
        and "*" not in server.worker_classes
        and worker_class not in server.worker_classes
    ):
        raise CliError(
            f"{server.name} worker classes are {', '.join(server.worker_classes)}, "
            f"not {worker_class!r}",
            EXIT_USAGE,
        )
    if server.name == "gunicorn":
        if worker_class is None:
            if native == ASGI3 and is_installed("uvicorn_worker"):
                worker_class = ASGI_WORKER
            else:
                worker_class = server.default_class
        speaks = ASGI3 if "uvicorn" in str(worker_class).lower() else WSGI
    else:
        worker_class = worker_class or server.default_class
        speaks = native if native in server.speaks else next(iter(server.speaks))
    wrapping = describe_wrapping(app, kind, speaks)
    pool_threads = None
    if options.threads is not None:
        wraps_wsgi = speaks == ASGI3 and native == WSGI and not _is_bridge(app, "AsgiToWsgi")
        has_pool = speaks == WSGI and server.name in ("gunicorn", "waitress", "granian")
        if wraps_wsgi:
            pool_threads = options.threads
        elif not has_pool:
            raise CliError(
                f"--threads sizes a thread pool, and {server.name} has none for this app "
                "(it applies to gunicorn, waitress and granian running WSGI, and to the "
                "bridge.WsgiToAsgi pool of a WSGI app on an ASGI server)",
                EXIT_USAGE,
            )
    if options.workers is not None and options.workers != 1 and not server.processes:
        raise CliError(
            f"{server.name} runs one process, so --workers does not apply; "
            "use uvicorn, hypercorn, granian or gunicorn for several",
            EXIT_USAGE,
        )
    if options.reload and not server.reloader:
        raise CliError(
            f"{server.name} has no reloader of its own, so --reload is not available; "
            "use uvicorn, hypercorn, granian, gunicorn or werkzeug while developing",
            EXIT_USAGE,
        )
    return Plan(server, kind, speaks, worker_class, wrapping, pool_threads)


def served_app(app: Any, kind: str, speaks: str, pool_threads: int | None = None) -> Any:
    """The object to hand a server that speaks ``speaks``."""
    from asgiref.compatibility import guarantee_single_callable  # noqa: PLC0415

    from . import AsgiToWsgi, WsgiToAsgi  # noqa: PLC0415

    if kind == ASGI2:
        app, kind = guarantee_single_callable(app), ASGI3  # type: ignore[no-untyped-call]
    if speaks == kind:
        return app
    if speaks == WSGI:
        return app.app if isinstance(app, WsgiToAsgi) else AsgiToWsgi(app)
    if isinstance(app, AsgiToWsgi):
        return app.app
    return WsgiToAsgi(app) if pool_threads is None else WsgiToAsgi(app, workers=pool_threads)


def spec_for(options: Options, plan: Plan) -> str:
    return json.dumps(
        {
            "target": absolute_target(options.target),
            "interface": plan.kind,
            "speaks": plan.speaks,
            "pool_threads": plan.pool_threads,
            "root_path": options.root_path,
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


def _bind(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _banner(options: Options, plan: Plan) -> None:
    scheme_host = f"[{options.host}]" if ":" in options.host else options.host
    print(
        f"bridge: serving {options.target} ({NAMES[plan.kind]}) on "
        f"http://{scheme_host}:{options.port} with {plan.server.name}, {plan.wrapping}",
        file=sys.stderr,
        flush=True,
    )


class _RootPath:
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


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _close(served: Any, app: Any) -> None:
    from . import AsgiToWsgi  # noqa: PLC0415

    if served is not app and isinstance(served, AsgiToWsgi):
        served.close()  # the lifespan shutdown of an ASGI app bridged here


def _log_level(options: Options) -> int:
    return int(getattr(logging, options.log_level.upper()))


# --- in-process servers ---------------------------------------------------------------------


def _run_uvicorn(app: Any, options: Options, plan: Plan) -> int:
    import uvicorn  # noqa: PLC0415

    common: dict[str, Any] = {
        "host": options.host,
        "port": options.port,
        "root_path": options.root_path,
        "log_level": options.log_level,
        "interface": "asgi3",
    }
    # uvicorn re-raises the signal that stopped it once it has shut down; with this handler
    # that becomes KeyboardInterrupt, so the command exits 0 instead of dying of SIGTERM.
    signal.signal(signal.SIGTERM, _interrupt)
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


async def _asyncio_signal() -> None:
    import asyncio  # noqa: PLC0415

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(signum, stop.set)
        except NotImplementedError:  # Windows
            signal.signal(signum, lambda *_: loop.call_soon_threadsafe(stop.set))
    await stop.wait()


async def _trio_signal() -> None:
    import trio  # noqa: PLC0415

    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for _ in signals:
            return


def _run_hypercorn(app: Any, options: Options, plan: Plan) -> int:
    from hypercorn.config import Config  # noqa: PLC0415

    config = Config()
    config.bind = [_bind(options.host, options.port)]
    config.worker_class = str(plan.worker_class)
    config.root_path = options.root_path
    config.loglevel = options.log_level.upper()
    if options.log_level in ("info", "debug"):
        config.accesslog = "-"
    if options.reload or options.workers:
        # Worker processes (which the reloader needs) load the app by import path.
        from hypercorn.run import run  # noqa: PLC0415

        os.environ[SPEC_ENV] = spec_for(options, plan)
        config.application_path = "asgi:" + ENTRY
        config.workers = options.workers or 1
        config.use_reloader = options.reload
        code = run(config)
        if code:
            raise CliError(f"hypercorn stopped with status {code}", EXIT_SERVER)
        return EXIT_OK
    # One process: serve the object here. hypercorn's trio worker has no signal handling
    # of its own, so SIGINT/SIGTERM trigger its graceful shutdown (and lifespan shutdown).
    served = served_app(app, plan.kind, plan.speaks, plan.pool_threads)
    if plan.worker_class == "trio":
        import trio  # noqa: PLC0415
        from hypercorn.trio import serve as trio_serve  # noqa: PLC0415

        trio.run(partial(trio_serve, served, config, shutdown_trigger=_trio_signal, mode="asgi"))
        return EXIT_OK
    from hypercorn.asyncio import serve as asyncio_serve  # noqa: PLC0415

    main = asyncio_serve(served, config, shutdown_trigger=_asyncio_signal, mode="asgi")
    if plan.worker_class == "uvloop":
        import uvloop  # noqa: PLC0415

        uvloop.run(main)
    else:
        import asyncio  # noqa: PLC0415

        asyncio.run(main)
    return EXIT_OK


def _run_waitress(app: Any, options: Options, plan: Plan) -> int:
    import waitress  # type: ignore[import-untyped]  # noqa: PLC0415

    logging.basicConfig(level=_log_level(options))
    logging.getLogger("waitress").setLevel(_log_level(options))
    served = served_app(app, plan.kind, plan.speaks, plan.pool_threads)
    signal.signal(signal.SIGTERM, _interrupt)  # waitress stops cleanly on KeyboardInterrupt
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
        _close(served, app)
    return EXIT_OK


def _run_werkzeug(app: Any, options: Options, plan: Plan) -> int:
    from werkzeug.serving import run_simple  # noqa: PLC0415

    logging.getLogger("werkzeug").setLevel(_log_level(options))
    served = served_app(app, plan.kind, plan.speaks, plan.pool_threads)
    wsgi = _RootPath(served, options.root_path) if options.root_path else served
    signal.signal(signal.SIGTERM, _interrupt)  # its serve loop stops on KeyboardInterrupt
    try:
        run_simple(
            options.host,
            options.port,
            wsgi,
            use_reloader=options.reload,
            reloader_type="stat",  # watchdog is not a dependency
            threaded=True,
        )
    finally:
        _close(served, app)
    return EXIT_OK


def _run_wsgiref(app: Any, options: Options, plan: Plan) -> int:
    from socketserver import ThreadingMixIn  # noqa: PLC0415
    from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server  # noqa: PLC0415

    quiet = _log_level(options) > logging.INFO

    class Handler(WSGIRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            if not quiet:
                super().log_message(format, *args)

    class ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
        daemon_threads = True
        address_family = socket.AF_INET6 if ":" in options.host else socket.AF_INET

    served = served_app(app, plan.kind, plan.speaks, plan.pool_threads)
    wsgi = _RootPath(served, options.root_path) if options.root_path else served
    try:
        httpd = make_server(
            options.host,
            options.port,
            wsgi,
            server_class=ThreadingWSGIServer,
            handler_class=Handler,
        )
    except OSError as exc:
        raise CliError(
            f"cannot listen on {options.host}:{options.port}: {exc}", EXIT_LISTEN
        ) from None
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        httpd.server_close()
        _close(served, app)
    return EXIT_OK


# --- servers run as a child process of their own command ------------------------------------


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


def _child_env(options: Options, plan: Plan) -> dict[str, str]:
    env = {**os.environ, SPEC_ENV: spec_for(options, plan)}
    cwd = os.getcwd()
    env["PYTHONPATH"] = os.pathsep.join(p for p in (cwd, env.get("PYTHONPATH", "")) if p)
    return env


def _run_gunicorn(app: Any, options: Options, plan: Plan) -> int:
    command = [sys.executable, "-m", "gunicorn", "-b", _bind(options.host, options.port)]
    command += ["-k", str(plan.worker_class), "--log-level", options.log_level]
    if options.workers:
        command += ["-w", str(options.workers)]
    if options.threads and plan.speaks == WSGI:
        command += ["--threads", str(options.threads)]
    if options.reload:
        command += ["--reload"]
    if options.log_level in ("info", "debug"):
        command += ["--access-logfile", "-"]
    env = _child_env(options, plan)
    if options.root_path and plan.speaks == WSGI:
        env["SCRIPT_NAME"] = options.root_path  # gunicorn's own way to set a mount point
    return run_child("gunicorn", [*command, ENTRY], env)


def _run_daphne(app: Any, options: Options, plan: Plan) -> int:
    verbosity = {"debug": "2", "info": "1"}.get(options.log_level, "0")
    command = [sys.executable, "-m", "daphne", "-b", options.host, "-p", str(options.port)]
    command += ["-v", verbosity]
    if options.root_path:
        command += ["--root-path", options.root_path]
    return run_child("daphne", [*command, ENTRY], _child_env(options, plan))


def _run_granian(app: Any, options: Options, plan: Plan) -> int:
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
    return run_child("granian", [*command, ENTRY], _child_env(options, plan))


RUNNERS: dict[str, Callable[[Any, Options, Plan], int]] = {
    "uvicorn": _run_uvicorn,
    "hypercorn": _run_hypercorn,
    "hypercorn-trio": _run_hypercorn,
    "daphne": _run_daphne,
    "granian": _run_granian,
    "gunicorn": _run_gunicorn,
    "waitress": _run_waitress,
    "werkzeug": _run_werkzeug,
    "wsgiref": _run_wsgiref,
}


def serve(app: Any, kind: str, options: Options) -> int:
    name = options.server or default_server(kind)
    server = SERVERS[name]
    if not server_installed(server):
        raise CliError(
            f"server {name!r} is not installed: {install_hint(server)}", EXIT_NOT_INSTALLED
        )
    plan = make_plan(app, kind, server, options)
    if name == "gunicorn" and kind != WSGI and plan.speaks == WSGI and not options.worker_class:
        print(
            "bridge: uvicorn-worker is not installed, so gunicorn runs the ASGI app through "
            f"bridge.AsgiToWsgi on gthread workers ({install_hint(server)} adds it)",
            file=sys.stderr,
        )
    check_port(options.host, options.port)
    if server.note:
        print(f"bridge: note: {server.note}", file=sys.stderr)
    _banner(options, plan)
    # Until the server installs its own handlers, SIGTERM stops the command as Ctrl-C does.
    signal.signal(signal.SIGTERM, _interrupt)
    return RUNNERS[name](app, options, plan)
