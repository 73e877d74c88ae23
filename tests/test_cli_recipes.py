"""The deployment recipes of docs/deployment.md for the hosts `bridge serve` also runs, as written.

examples/fastapi_app.py (FastAPI through ``bridge.AsgiToWsgi``, with a
lifespan that sets request state) is served from the repository root by each
recipe's command on a free 127.0.0.1 port: examples/deploy/uwsgi.ini, gunicorn's
gevent worker, granian's WSGI interface, cheroot and mod_wsgi-express (run as
``nobody`` when the tests run as root, as Apache will not serve as root). Each
must answer with the lifespan having run in the worker that answered, take a
request body, and stop with status 0 on SIGTERM to its PID.
examples/deploy/passenger_wsgi.py is loaded as Passenger's loader does (a file
whose ``application`` is served) and given a request. A host that is not
installed skips, naming what installs it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from servers import PY, UWSGI, Command, ServerProcess
from test_cli_hosts import as_ordinary_user
from test_cli_servers import require

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(os.name == "nt", reason="POSIX signals")]

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(PY).parent
DEPLOY = ROOT / "examples" / "deploy"
TARGET = "examples.fastapi_app:app"

CHEROOT = """
import signal, sys, threading
from cheroot import wsgi
from examples.fastapi_app import app

server = wsgi.Server(("127.0.0.1", int(sys.argv[1])), app, numthreads=8)

def stop(signum, frame):
    threading.Thread(target=server.stop).start()   # start() returns once it has stopped

signal.signal(signal.SIGTERM, stop)
signal.signal(signal.SIGINT, stop)
server.start()
app.close()   # lifespan shutdown (also an atexit hook of the bridge's)
"""


def uwsgi_ini(folder: Path) -> Command:
    def command(port: int) -> list[str]:
        ini = folder / "uwsgi.ini"
        ini.write_text((DEPLOY / "uwsgi.ini").read_text().replace(":8000", f":{port}"))
        return [str(UWSGI), "--ini", str(ini), "--virtualenv", sys.prefix]

    return command


def mod_wsgi_express(folder: Path) -> Command:
    run_as = as_ordinary_user()

    def command(port: int) -> list[str]:
        # As documented, plus: a server root in this test's folder, and, as root, a user.
        return [
            *run_as, str(BIN / "mod_wsgi-express"), "start-server",
            "--application-type", "module", "--callable-object", "app",
            "--processes", "2", "--threads", "4", "--log-to-terminal",
            "--host", "127.0.0.1", "--port", str(port),
            "--server-root", str(folder / "server-root"), "examples.fastapi_app",
        ]  # fmt: skip

    return command


# One worker for gunicorn and granian: a worker still starting when SIGTERM comes can hold
# their stop up (tests/test_cli_hosts.py runs two, and waits until both have answered).
def gunicorn_gevent(folder: Path) -> Command:
    return lambda port: [
        PY, "-m", "gunicorn", "-k", "gevent", "-w", "1", "-b", f"127.0.0.1:{port}", TARGET,
    ]  # fmt: skip


def granian_wsgi(folder: Path) -> Command:
    return lambda port: [
        PY, "-m", "granian", "--interface", "wsgi", "--workers", "1",
        "--host", "127.0.0.1", "--port", str(port), TARGET,
    ]  # fmt: skip


def cheroot(folder: Path) -> Command:
    return lambda port: [PY, "-c", CHEROOT, str(port)]


# recipe -> (the `bridge serve` server whose packages it needs, its command)
RECIPES: dict[str, tuple[str, Callable[[Path], Command]]] = {
    "uwsgi": ("uwsgi", uwsgi_ini),
    "gunicorn-gevent": ("gunicorn-gevent", gunicorn_gevent),
    "granian-wsgi": ("granian-wsgi", granian_wsgi),
    "cheroot": ("cheroot", cheroot),
    "mod_wsgi-express": ("mod_wsgi", mod_wsgi_express),
}


@pytest.fixture
def folder() -> Iterator[Path]:
    """A folder ``nobody`` can write too (pytest's tmp_path is root's alone)."""
    path = Path(tempfile.mkdtemp(prefix="bridge-recipes-"))
    try:
        path.chmod(0o777)
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("recipe", list(RECIPES))
def test_recipe_serves_fastapi_through_the_bridge(folder: Path, recipe: str) -> None:
    server, command = RECIPES[recipe]
    require(server)
    served = ServerProcess(
        recipe,
        command(folder),
        folder,
        log=folder / "server.log",
        cwd=ROOT,
        pythonpath=False,
        ready_path="/",  # a master may accept before its workers loaded the app
        startup_seconds=45,
    )
    try:
        with httpx.Client(base_url=served.url, timeout=30) as client:
            for _ in range(4):
                hello = client.get("/")
                assert hello.json() == {"message": "Hello from FastAPI", "lifespan_ran": True}
            echoed = client.post("/echo", content=b"x" * 100_000).json()
            assert echoed["length"] == 100_000, served.log.read_text()
        code = served.stop(30, group=False)
        assert not served.killed, f"did not stop within 30 s:\n{served.log.read_text()}"
        assert code == 0, served.log.read_text()
    finally:
        served.kill()


PASSENGER = """
import importlib.util, json, sys
from wsgiref.util import setup_testing_defaults

spec = importlib.util.spec_from_file_location("passenger_wsgi", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
environ = {}
setup_testing_defaults(environ)
statuses = []
body = b"".join(module.application(environ, lambda status, headers: statuses.append(status)))
print(json.dumps({"status": statuses[0], "body": json.loads(body)}))
"""


@pytest.mark.timeout(60)
def test_passenger_wsgi_file_serves_the_app(tmp_path: Path) -> None:
    result = subprocess.run(
        [PY, "-c", PASSENGER, str(DEPLOY / "passenger_wsgi.py")],
        cwd=tmp_path,  # Passenger's working directory is not the file's folder's parent
        capture_output=True,
        text=True,
        timeout=50,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        '{"status": "200 OK", "body": {"message": "Hello from FastAPI", "lifespan_ran": true}}'
    )
