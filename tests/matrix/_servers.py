"""The matrix's servers: how to start each one on a target, as a subprocess.

``ServerProcess`` runs ``command(port)`` in its own process group on a free
127.0.0.1 port with ``tests/`` and the project root on ``PYTHONPATH``, waits
(bounded in time) until an HTTP request to ``/hello`` is answered, and
:meth:`stop` sends SIGTERM to the group, then SIGKILL after 15 s. An HTTP
answer rather than an open port, because a gunicorn master accepts
connections before its worker has imported the app.
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent
ROOT = TESTS.parent
PY = sys.executable
STARTUP_SECONDS = 60

Command = Callable[[str, int], list[str]]
PORT_ATTEMPTS = 3


class _PortTaken(RuntimeError):
    """The server could not bind the port it was given."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _gunicorn(*worker: str) -> Command:
    def command(target: str, port: int) -> list[str]:
        return [PY, "-m", "gunicorn", *worker, "-w", "1", "-b", f"127.0.0.1:{port}", target]

    return command


def _hypercorn(worker: str) -> Command:
    def command(target: str, port: int) -> list[str]:
        return [PY, "-m", "hypercorn", "-k", worker, "-b", f"127.0.0.1:{port}", target]

    return command


def _uvicorn(target: str, port: int) -> list[str]:
    return [PY, "-m", "uvicorn", target, "--port", str(port), "--log-level", "warning"]


def _daphne(target: str, port: int) -> list[str]:
    return [PY, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), target]


def _waitress(target: str, port: int) -> list[str]:
    return [PY, "-m", "waitress", f"--listen=127.0.0.1:{port}", target]


def _script(kind: str) -> Command:
    """tests/wsgiref_server.py, shared with test_real_servers.py."""

    def command(target: str, port: int) -> list[str]:
        return [PY, str(TESTS / "wsgiref_server.py"), str(port), target, kind]

    return command


# ASGI servers (they run WsgiToAsgi(wsgi_app), or an ASGI app natively).
ASGI_SERVERS: dict[str, Command] = {
    "uvicorn": _uvicorn,
    "hypercorn-asyncio": _hypercorn("asyncio"),
    "hypercorn-trio": _hypercorn("trio"),
    "daphne": _daphne,
    "gunicorn-uvicorn-worker": _gunicorn("-k", "uvicorn_worker.UvicornWorker"),
}

# WSGI servers (they run AsgiToWsgi(asgi_app), or a WSGI app natively).
WSGI_SERVERS: dict[str, Command] = {
    "gunicorn-sync": _gunicorn("-k", "sync"),
    "gunicorn-gthread": _gunicorn("-k", "gthread", "--threads", "4"),
    "waitress": _waitress,
    "wsgiref": _script("wsgiref"),
    "werkzeug": _script("werkzeug"),
}

SERVERS = {**ASGI_SERVERS, **WSGI_SERVERS}


class ServerProcess:
    """One server process on 127.0.0.1 serving ``target`` (``module:attr``)."""

    def __init__(self, server: str, target: str, log: Path) -> None:
        self.name = f"{server} {target}"
        self.log = log
        env = {**os.environ, "PYTHONPATH": f"{TESTS}{os.pathsep}{ROOT}"}
        for attempt in range(1, PORT_ATTEMPTS + 1):
            # Another process may take the free port before the server binds it:
            # then the server exits early, saying so, and a new port is tried.
            self.port = free_port()
            with log.open("wb") as out:
                self.proc = subprocess.Popen(
                    SERVERS[server](target, self.port),
                    cwd=TESTS,
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            try:
                self._wait_ready()
                return
            except _PortTaken:
                if attempt == PORT_ATTEMPTS:
                    raise
            except BaseException:
                self.stop()
                raise

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            if self.proc.poll() is not None:
                output = self.log.read_text()
                error = _PortTaken if "already in use" in output.lower() else RuntimeError
                raise error(f"{self.name} exited early:\n{output}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                try:
                    conn.request("GET", "/hello")
                    conn.getresponse().read()
                finally:
                    conn.close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"{self.name} did not answer within {STARTUP_SECONDS} s:\n"
                        + self.log.read_text()
                    ) from None
                time.sleep(0.1)  # polling for readiness, bounded by the deadline

    def stop(self) -> int | None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=15)
        return self.proc.returncode
