"""Run an application on a chosen server, bridged when the server speaks the other interface.

Theory of operation: each server has one module in this package, which
describes it with :class:`Server` records (``SERVERS``: which interfaces it
speaks natively, which options it has, what installs it) and holds ``run``,
the function that starts it. :data:`SERVERS` here is the registry: the modules'
records, in the order ``bridge inspect`` lists them. Adding a host is adding a
module and naming it in :data:`_MODULES`.

:func:`make_plan` decides, for one app and one server, what the server will be
given (``wsgi`` or ``asgi3``) and so which wrapping applies
(:func:`served_app`):

* the app already speaks it: as is (an ASGI 2 double callable is made single
  with asgiref's ``guarantee_single_callable`` first);
* a WSGI app on an ASGI server: :class:`bridge.WsgiToAsgi` (``--threads`` sizes
  its pool); an ASGI app on a WSGI server: :class:`bridge.AsgiToWsgi`;
* an app the user already wrapped with one bridge, sent to a server of the
  other interface, is unwrapped instead of wrapped twice.

It refuses, with the fix, an option the server does not have. :func:`serve`
then checks the port and hands over to the server's ``run``, of one of two
kinds:

* in this process, for servers with a Python API that accepts an app object
  (uvicorn, hypercorn, waitress, werkzeug, wsgiref, cheroot). SIGTERM is
  turned into KeyboardInterrupt for the WSGI ones, whose serve loops stop on
  it, and the ``AsgiToWsgi`` made here is closed afterwards, which runs the
  ASGI lifespan shutdown. uvicorn and hypercorn handle SIGINT/SIGTERM
  themselves;
* as a child process of the server's own command line, for servers that only
  load an app by import path in processes they fork or spawn (gunicorn,
  granian, uWSGI, mod_wsgi-express) or that need their CLI's setup (daphne).
  The child is pointed at ``bridge._cli_entry:app``, a fixed module that
  rebuilds the served app from the JSON plan in the ``BRIDGE_SERVE_SPEC``
  environment variable, so no file is generated. This process forwards
  SIGTERM/SIGHUP to the child, ignores SIGINT (Ctrl-C in a terminal reaches
  the child directly, as it is in the same process group) and exits with a
  documented code.
"""

from __future__ import annotations

import importlib.util
import signal
import sys
from typing import Any

from .._cli_load import EXIT_NOT_INSTALLED, EXIT_USAGE, CliError
from .._detect import ASGI2, ASGI3, WSGI
from . import (
    _cheroot,
    _daphne,
    _granian,
    _gunicorn,
    _hypercorn,
    _mod_wsgi,
    _uvicorn,
    _uwsgi,
    _waitress,
    _werkzeug,
    _wsgiref,
)
from ._base import (
    ASGI_WORKER,
    ENTRY,
    LOG_LEVELS,
    NAMES,
    SPEC_ENV,
    Options,
    Plan,
    RootPath,
    Server,
    check_port,
    interrupt,
    program,
    served_app,
    spec_for,
)

__all__ = [
    "ASGI_WORKER",
    "ENTRY",
    "LOG_LEVELS",
    "NAMES",
    "SERVERS",
    "SPEC_ENV",
    "Options",
    "Plan",
    "Server",
    "check_port",
    "default_server",
    "install_hint",
    "is_installed",
    "make_plan",
    "serve",
    "served_app",
    "server_installed",
    "spec_for",
]

# ASGI servers first, then WSGI ones; a variant right after the server it is a way to run.
_MODULES = (
    _uvicorn,
    _hypercorn,
    _daphne,
    _granian,
    _gunicorn,
    _waitress,
    _werkzeug,
    _wsgiref,
    _cheroot,
    _uwsgi,
    _mod_wsgi,
)

SERVERS: dict[str, Server] = {
    server.name: server for module in _MODULES for server in module.SERVERS
}

_RootPath = RootPath  # the name tests/test_cli.py knows it by


def is_installed(package: str) -> bool:
    """Whether ``package`` can be imported (tests monkeypatch this)."""
    try:
        return importlib.util.find_spec(package) is not None
    except (ImportError, ValueError):
        return False


def install_hint(server: Server) -> str:
    return server.hint or f"pip install 'wsgi-asgi-bridge[{server.extra}]'"


def server_installed(server: Server) -> bool:
    return all(is_installed(package) for package in server.packages) and all(
        program(name) is not None for name in server.programs
    )


def default_server(kind: str) -> str:
    """uvicorn for ASGI apps when it is installed; otherwise wsgiref, which always is."""
    if kind != WSGI and server_installed(SERVERS["uvicorn"]):
        return "uvicorn"
    return "wsgiref"


def _servers_with(has: str) -> str:
    """The servers (not their variants) that have an option, for an error message."""
    names = [s.name for s in SERVERS.values() if getattr(s, has) and not s.variant_of]
    return ", ".join(names[:-1]) + " or " + names[-1]


def _is_bridge(app: Any, name: str) -> bool:
    from .. import AsgiToWsgi, WsgiToAsgi  # noqa: PLC0415 - keep `inspect` light

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
    if server.choose_worker is not None:
        speaks, worker_class = server.choose_worker(native, worker_class, is_installed)
    else:
        worker_class = worker_class or server.default_class
        speaks = native if native in server.speaks else next(iter(server.speaks))
    wrapping = describe_wrapping(app, kind, speaks)
    pool_threads = None
    if options.threads is not None:
        wraps_wsgi = speaks == ASGI3 and native == WSGI and not _is_bridge(app, "AsgiToWsgi")
        if wraps_wsgi:
            pool_threads = options.threads
        elif not (speaks == WSGI and server.threads):
            raise CliError(
                f"--threads sizes a thread pool, and {server.name} has none for this app "
                f"(it applies to {_servers_with('threads')} running WSGI, and to the "
                "bridge.WsgiToAsgi pool of a WSGI app on an ASGI server)",
                EXIT_USAGE,
            )
    if options.workers is not None and options.workers != 1 and not server.processes:
        raise CliError(
            f"{server.name} runs one process, so --workers does not apply; "
            f"use {_servers_with('processes')} for several",
            EXIT_USAGE,
        )
    if options.reload and not server.reloader:
        raise CliError(
            f"{server.name} has no reloader of its own, so --reload is not available; "
            f"use {_servers_with('reloader')} while developing",
            EXIT_USAGE,
        )
    return Plan(server, kind, speaks, worker_class, wrapping, pool_threads)


def _banner(options: Options, plan: Plan) -> None:
    scheme_host = f"[{options.host}]" if ":" in options.host else options.host
    print(
        f"bridge: serving {options.target} ({NAMES[plan.kind]}) on "
        f"http://{scheme_host}:{options.port} with {plan.server.name}, {plan.wrapping}",
        file=sys.stderr,
        flush=True,
    )


def serve(app: Any, kind: str, options: Options) -> int:
    name = options.server or default_server(kind)
    server = SERVERS[name]
    if not server_installed(server):
        raise CliError(
            f"server {name!r} is not installed: {install_hint(server)}", EXIT_NOT_INSTALLED
        )
    reason = server.refuse() if server.refuse else ""
    if reason:
        raise CliError(reason, EXIT_USAGE)
    plan = make_plan(app, kind, server, options)
    notice = server.notice(kind, plan, options) if server.notice else ""
    if notice:
        print(f"bridge: {notice}", file=sys.stderr)
    check_port(options.host, options.port)
    if server.note:
        print(f"bridge: note: {server.note}", file=sys.stderr)
    _banner(options, plan)
    # Until the server installs its own handlers, SIGTERM stops the command as Ctrl-C does.
    signal.signal(signal.SIGTERM, interrupt)
    return server.run(app, options, plan)
