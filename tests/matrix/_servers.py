"""The matrix's servers: how to start each one on a ``module:attr`` target.

The process handling (free port, readiness, port retry, stop by PID) is
tests/servers.py's :class:`~servers.ServerProcess`; here is only the table of
servers. A matrix server is ready when an HTTP request to ``/hello`` is
answered, not when its port is open, because a gunicorn master accepts
connections before its worker has imported the app.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from servers import Command, ServerProcess, daphne, gunicorn, hypercorn, script, uvicorn, waitress

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

SERVERS = {**ASGI_SERVERS, **WSGI_SERVERS}


def start(server: str, target: str, log: Path) -> ServerProcess:
    """``server`` serving ``target``, ready once ``GET /hello`` is answered."""
    return ServerProcess(
        f"{server} {target}",
        SERVERS[server](target),
        log.parent,
        log=log,
        ready_path="/hello",
        startup_seconds=STARTUP_SECONDS,
        port_attempts=PORT_ATTEMPTS,
    )
