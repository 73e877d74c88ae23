"""Server processes for the real-server tests: start on a free 127.0.0.1 port, stop by PID.

What lives here, shared by every test that starts a server subprocess:

* :func:`free_port`, and the command builders (:func:`uvicorn`, :func:`gunicorn`,
  :func:`hypercorn`, :func:`daphne`, :func:`waitress`, :func:`uwsgi`, :func:`cheroot`,
  :func:`granian`, :func:`mod_wsgi_express`, :func:`script` for tests/wsgiref_server.py)
  that turn a ``module:attr`` target into ``command(port) -> argv``;
* :class:`ServerProcess`, which runs ``command(port)`` in its own process group
  with ``tests/`` and the project root on ``PYTHONPATH`` (unless told not to),
  ``MARKER_DIR`` set to the folder the apps write to, and waits (bounded) until
  the port accepts connections or, with ``ready_path``, until an HTTP GET of
  that path is answered (a gunicorn master accepts connections before its
  worker has imported the app). If the server exits saying its address is
  already in use (another process took the free port first), a new port is
  tried, up to ``port_attempts`` times. :meth:`ServerProcess.stop` sends
  SIGTERM (to the group, or only to the PID) and SIGKILL to the group if it has
  not exited within the grace period; :meth:`ServerProcess.kill` is the hard
  stop for a ``finally``;
* :func:`raw`, a raw-socket client for requests no client library would send,
  and :func:`body_pieces`, a deterministic request body sent piece by piece.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
PY = sys.executable
# uWSGI is a C program, installed as a binary next to the Python (pip install uwsgi).
UWSGI = shutil.which("uwsgi", path=str(Path(PY).parent))
# mod_wsgi-express comes with `pip install mod_wsgi`, which compiles only where
# Debian's apache2-dev (apxs) is installed; it runs the apache2 binary (apache2-bin).
MOD_WSGI_EXPRESS = shutil.which("mod_wsgi-express", path=str(Path(PY).parent))
# When mod_wsgi-express is started as root, Apache runs its daemon processes as this user.
MOD_WSGI_USER = "www-data"

Command = Callable[[int], list[str]]


class ServerError(RuntimeError):
    """The server exited before it was ready, or was not ready in time (with its log)."""


class PortTaken(ServerError):
    """The server could not bind the port it was given."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- commands: a module:attr target -> command(port) -------------------------------------


def uvicorn(target: str, *options: str, log_level: str = "warning") -> Command:
    return lambda port: [
        PY, "-m", "uvicorn", target, "--port", str(port), "--log-level", log_level, *options,
    ]  # fmt: skip


def gunicorn(target: str, *options: str) -> Command:
    return lambda port: [PY, "-m", "gunicorn", *options, "-b", f"127.0.0.1:{port}", target]


def hypercorn(target: str, worker: str) -> Command:
    return lambda port: [PY, "-m", "hypercorn", "-k", worker, "-b", f"127.0.0.1:{port}", target]


def daphne(target: str) -> Command:
    return lambda port: [PY, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), target]


def waitress(target: str, *options: str) -> Command:
    return lambda port: [PY, "-m", "waitress", f"--listen=127.0.0.1:{port}", *options, target]


def uwsgi(target: str, listen: str = "--http", *options: str) -> Command:
    """uWSGI (the ``uwsgi`` pip package's binary, next to this Python) serving ``target``.

    ``listen`` is the option the port goes to: ``--http`` (uWSGI's HTTP router
    in front of the workers) or ``--http-socket`` (the workers speak HTTP
    themselves). The master stops, with its workers, on SIGTERM
    (``--die-on-term``) and exits if the app does not load (``--need-app``);
    ``options`` add the rest (``--processes``, ``--threads``, ...). uWSGI logs,
    Python tracebacks included, to stderr. :data:`UWSGI` is None if the package
    is not installed.
    """
    return lambda port: [
        str(UWSGI), listen, f"127.0.0.1:{port}", "--module", target,
        "--virtualenv", sys.prefix, "--master", "--die-on-term", "--need-app", *options,
    ]  # fmt: skip


def cheroot(target: str, *options: str) -> Command:
    """cheroot (CherryPy's WSGI server), from its own command line."""
    return lambda port: [
        PY, "-m", "cheroot", "--bind", f"127.0.0.1:{port}", *options, target,
    ]  # fmt: skip


def granian(target: str, interface: str, *options: str) -> Command:
    """granian with its ``wsgi`` or ``asgi`` interface (its worker processes are forked)."""
    return lambda port: [
        PY, "-m", "granian", "--interface", interface, "--host", "127.0.0.1",
        "--port", str(port), "--no-ws", *options, target,
    ]  # fmt: skip


def mod_wsgi_express(target: str, server_root: Path, *options: str) -> Command:
    """``mod_wsgi-express start-server`` (Apache with mod_wsgi) serving ``target``.

    Daemon mode is mod_wsgi-express's default; ``options`` add the rest
    (``--processes``, ``--threads``, ``--application-group``). Apache writes
    its configuration, pid and sockets under ``server_root`` and logs to
    stderr. Started as root, Apache will not serve as root: its daemon
    processes run as :data:`MOD_WSGI_USER`, who must be able to read this
    Python, the project and ``server_root`` (see :func:`mod_wsgi_blocker`).
    ``tests/`` and the project root reach them as ``--python-path``, since
    Apache's processes do not take ``PYTHONPATH`` from here as a Python would.
    """
    module, _, attr = target.partition(":")
    user = ["--user", MOD_WSGI_USER, "--group", MOD_WSGI_USER] if os.geteuid() == 0 else []
    return lambda port: [
        str(MOD_WSGI_EXPRESS), "start-server", "--host", "127.0.0.1", "--port", str(port),
        "--server-root", str(server_root), "--application-type", "module",
        "--entry-point", module, "--callable-object", attr or "application",
        "--python-path", str(TESTS), "--python-path", str(ROOT), "--log-to-terminal",
        "--locale", "C.UTF-8", *user, *options,
    ]  # fmt: skip


def mod_wsgi_blocker(markers: Path) -> str | None:
    """Why mod_wsgi-express cannot run here (a sentence naming the fix), or None.

    As root, Apache's daemon processes run as :data:`MOD_WSGI_USER`: they
    must reach this Python's standard library, the project and ``markers``.
    A pyenv Python under ``/root`` (mode 700) is out of their reach until
    ``/root`` is ``o+x``; CI's ``.ci/run`` sees to that.
    """
    if MOD_WSGI_EXPRESS is None:
        return (
            "mod_wsgi is not installed: it needs Debian's apache2-dev and apache2-bin "
            "(apt-get install apache2-dev apache2-bin), then `make venv` installs it "
            "(pip install mod_wsgi)"
        )
    if os.geteuid() != 0:
        return None
    needed = [Path(os.__file__), TESTS / "servers.py", ROOT / "bridge" / "__init__.py"]
    for path in needed:
        probe = ["runuser", "-u", MOD_WSGI_USER, "--", "test", "-r", str(path)]
        if subprocess.run(probe, check=False, capture_output=True, timeout=30).returncode != 0:
            return (
                f"mod_wsgi-express started as root runs its daemon processes as "
                f"{MOD_WSGI_USER}, who cannot read {path}: give its parent folders o+x "
                f"(.ci/run does on CI)"
            )
    probe = ["runuser", "-u", MOD_WSGI_USER, "--", "test", "-w", str(markers)]
    if subprocess.run(probe, check=False, capture_output=True, timeout=30).returncode != 0:
        return f"{MOD_WSGI_USER} cannot write to {markers}"
    return None


def script(target: str, kind: str = "wsgiref") -> Command:
    """tests/wsgiref_server.py: ``kind`` is ``wsgiref`` or ``werkzeug``."""
    return lambda port: [PY, str(TESTS / "wsgiref_server.py"), str(port), target, kind]


# -- the process ---------------------------------------------------------------------------


class ServerProcess:
    """One server process on 127.0.0.1; ``command(port)`` gives its argv."""

    def __init__(
        self,
        name: str,
        command: Command,
        markers: Path,
        env: Mapping[str, str] | None = None,
        *,
        log: Path | None = None,
        cwd: Path = TESTS,
        pythonpath: bool = True,
        ready_path: str | None = None,
        startup_seconds: float = 30,
        port_attempts: int = 3,
    ) -> None:
        self.name = name
        self.markers = markers
        self.log = log if log is not None else markers / f"server-{name}.log"
        self.ready_path = ready_path
        self.startup_seconds = startup_seconds
        self.killed = False
        full_env = {**os.environ, "MARKER_DIR": str(markers)}
        if pythonpath:
            full_env["PYTHONPATH"] = f"{TESTS}{os.pathsep}{ROOT}"
        else:
            full_env.pop("PYTHONPATH", None)
        full_env.update(env or {})
        for attempt in range(1, port_attempts + 1):
            # Another process may take the free port before the server binds it:
            # then the server exits early, saying so, and a new port is tried.
            self.port = free_port()
            self.url = f"http://127.0.0.1:{self.port}"
            with self.log.open("wb") as out:
                self.proc = subprocess.Popen(
                    command(self.port),
                    cwd=cwd,
                    env=full_env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            try:
                self._wait_ready()
                return
            except PortTaken:
                if attempt == port_attempts:
                    raise
            except BaseException:
                self.stop()
                raise

    def _ready(self) -> bool:
        try:
            if self.ready_path is None:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return True
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
            try:
                conn.request("GET", self.ready_path)
                conn.getresponse().read()
            finally:
                conn.close()
            return True
        except OSError:
            return False

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_seconds
        while True:
            if self.proc.poll() is not None:
                output = self.log.read_text()
                error = PortTaken if "already in use" in output.lower() else ServerError
                raise error(f"{self.name} exited with {self.proc.returncode}:\n{output}")
            if self._ready():
                return
            if time.monotonic() > deadline:
                raise ServerError(
                    f"{self.name} was not ready within {self.startup_seconds} s:\n"
                    + self.log.read_text()
                )
            time.sleep(0.05)  # polling for readiness, bounded by the deadline

    def stop(self, grace: float = 15, *, group: bool = True) -> int | None:
        """SIGTERM to the process group (or, ``group=False``, only to the PID); SIGKILL
        to the group if it has not exited within ``grace`` s (then :attr:`killed`)."""
        self.killed = False
        if self.proc.poll() is None:
            if group:
                os.killpg(self.proc.pid, signal.SIGTERM)
            else:
                self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.killed = True
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        return self.proc.returncode

    def kill(self) -> None:
        """SIGKILL to the process and whatever it left in its group (none should be)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def wait_for_marker(self, name: str, timeout: float = 15) -> list[Path]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = sorted(self.markers.glob(f"{name}.*"))
            if found:
                return found
            time.sleep(0.05)  # polling a file the server writes, bounded by the deadline
        return []


# -- a client ------------------------------------------------------------------------------


def raw(port: int, request: bytes, timeout: float = 20) -> bytes:
    """Send ``request`` as is to 127.0.0.1:``port``; return everything the server answered."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def body_pieces(total: int, piece: int, seed: bytes) -> Iterator[bytes]:
    """``total`` deterministic bytes (a block made from ``seed``, repeated), ``piece`` at a time."""
    block = (hashlib.sha256(seed).digest() * (piece // 32 + 1))[:piece]
    sent = 0
    while sent < total:
        part = block[: min(piece, total - sent)]
        sent += len(part)
        yield part
