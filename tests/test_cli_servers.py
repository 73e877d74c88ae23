"""`bridge serve` on every server it knows, as a user runs it: a real process on 127.0.0.1.

For each server, a WSGI app and an ASGI app are served with ``--root-path``;
each must answer correctly (bridged where the server speaks the other
interface), and stop on SIGTERM sent to the command's PID with exit code 0,
the ASGI app's lifespan shutdown having written its marker file (daphne does
not run lifespan at all). ``--reload`` is checked with uvicorn's and werkzeug's
reloaders by editing the app file while it is served.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from servers import ServerProcess

import bridge._serve as serve_module

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(os.name == "nt", reason="POSIX signals")]

APPS = """
import os
from pathlib import Path

MARKERS = Path(os.environ["MARKER_DIR"])

def wsgi_app(environ, start_response):
    body = f"wsgi root={environ.get('SCRIPT_NAME', '')} pid={os.getpid()}".encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]

async def asgi_app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                (MARKERS / f"startup.{os.getpid()}").write_text("up")
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                (MARKERS / f"shutdown.{os.getpid()}").write_text("down")
                await send({"type": "lifespan.shutdown.complete"})
                return
    body = f"asgi root={scope.get('root_path', '')} pid={os.getpid()}".encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": body})
"""

SERVERS = [
    "uvicorn",
    "hypercorn",
    "hypercorn-trio",
    "daphne",
    "granian",
    "gunicorn",
    "waitress",
    "werkzeug",
    "wsgiref",
    "granian-wsgi",
    "granian-asgi",
    "gunicorn-gevent",
    "cheroot",
    "uwsgi",
]  # mod_wsgi, which Apache will not run as root, is in tests/test_cli_hosts.py


def require(server: str) -> None:
    """Skip, naming what installs it, when ``server`` is not installed here."""
    record = serve_module.SERVERS[server]
    if not serve_module.server_installed(record):
        pytest.skip(f"{server} is not installed: {serve_module.install_hint(record)}")


def sigterm(served: ServerProcess) -> int:
    """SIGTERM to the command's PID; its process group is killed only if it hangs."""
    code = served.stop(30, group=False)
    if served.killed:
        pytest.fail(f"did not stop within 30 s of SIGTERM:\n{served.log.read_text()}")
    assert code is not None
    return code


# Starts `python -m bridge ...` with SIGINT at its default, as a terminal would, even when this
# process was started with SIGINT ignored (a background job): an ignored signal is inherited.
TRAMPOLINE = (
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
    "os.execv(sys.executable, [sys.executable, *sys.argv[1:]])"
)


@contextmanager
def bridge_serve(
    folder: Path, *args: str, prefix: tuple[str, ...] = ()
) -> Iterator[ServerProcess]:
    """``bridge serve ARGS --port N`` in ``folder``; ``prefix`` runs it through another program
    that execs it (``setpriv`` to run it as another user), so the PID stays the command's."""

    def command(port: int) -> list[str]:
        return [
            *prefix,
            sys.executable,
            "-c",
            TRAMPOLINE,
            "-m",
            "bridge",
            "serve",
            *args,
            "--port",
            str(port),
        ]

    served = ServerProcess(
        "bridge serve",
        command,
        folder,
        log=folder / "server.log",
        cwd=folder,
        pythonpath=False,
        startup_seconds=45,
    )
    try:
        yield served
    finally:
        served.kill()


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "cli_apps.py").write_text(APPS)
    return tmp_path


@pytest.mark.timeout(90)
@pytest.mark.parametrize("kind", ["wsgi", "asgi"])
@pytest.mark.parametrize("server", SERVERS)
def test_serve_answers_and_stops_cleanly_on_sigterm(folder: Path, server: str, kind: str) -> None:
    require(server)
    args = [f"cli_apps:{kind}_app", "--server", server, "--root-path", "/mount"]
    with bridge_serve(folder, *args, "--log-level", "warning") as served:
        with httpx.Client(base_url=served.url, timeout=30) as client:
            response = client.get("/mount/hello")
        assert response.status_code == 200, served.log.read_text()
        text, _, pid = response.text.partition(" pid=")
        assert text == f"{kind} root=/mount"
        code = sigterm(served)
    assert code == 0, served.log.read_text()
    if kind == "asgi" and server != "daphne":  # daphne has no lifespan protocol
        assert (folder / f"startup.{pid}").read_text() == "up"
        assert (folder / f"shutdown.{pid}").read_text() == "down", served.log.read_text()


def _get_text(url: str) -> str:
    try:
        return httpx.get(url, timeout=5).text
    except httpx.HTTPError:
        return ""  # the reloader is between two server processes


RELOADABLE = """
def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"%s"]
"""


@pytest.mark.timeout(90)
@pytest.mark.parametrize("server", ["uvicorn", "werkzeug"])
def test_reload_restarts_on_a_code_change(folder: Path, server: str) -> None:
    app_file = folder / "reloadable.py"
    app_file.write_text(RELOADABLE % "version 1")
    with bridge_serve(folder, "reloadable.py", "--server", server, "--reload") as served:
        assert _get_text(served.url) == "version 1"
        app_file.write_text(RELOADABLE % "version 2")
        # A reloader may take its first look at the file only after this change; so while the
        # old code still answers, touch it again (a newer mtime each time), within a deadline.
        deadline = time.monotonic() + 45
        bump = time.time() + 5
        text = "version 1"
        while text != "version 2" and time.monotonic() < deadline:
            if text == "version 1":
                bump += 1
                os.utime(app_file, (bump, bump))
            time.sleep(0.5)  # polling for the reloaded code, bounded by the deadline
            text = _get_text(served.url)
        assert text == "version 2", served.log.read_text()
        assert sigterm(served) == 0


@pytest.mark.timeout(90)
@pytest.mark.parametrize("server", ["uvicorn", "gunicorn", "wsgiref", "cheroot"])
def test_ctrl_c_shuts_down_cleanly(folder: Path, server: str) -> None:
    """Ctrl-C in a terminal: SIGINT to the whole foreground process group."""
    require(server)
    with bridge_serve(folder, "cli_apps:asgi_app", "--server", server) as served:
        response = httpx.get(served.url, timeout=30)
        assert response.status_code == 200
        pid = response.text.partition(" pid=")[2]
        os.killpg(served.proc.pid, signal.SIGINT)
        try:
            code = served.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pytest.fail(f"did not stop within 30 s of Ctrl-C:\n{served.log.read_text()}")
    assert code == 0, served.log.read_text()
    assert (folder / f"shutdown.{pid}").read_text() == "down", served.log.read_text()
