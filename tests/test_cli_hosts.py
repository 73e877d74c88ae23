"""`bridge serve` on the hosts that fork or spawn worker processes of their own, several workers.

uWSGI, granian (its WSGI interface, so the ASGI app runs through
``AsgiToWsgi``), gunicorn's gevent worker and mod_wsgi-express each serve
the ASGI app of tests/test_cli_servers.py through the bridge with
``--workers 2``. Every worker that answers must have run lifespan startup
before answering, and, after SIGTERM to the command's PID, lifespan shutdown:
the bridge registers it where these hosts run exit hooks (``atexit``, and a
multiprocessing finalizer for granian, whose workers end with ``os._exit()``
and skip ``atexit``; bridge/_hosts.py). mod_wsgi-express refuses to run Apache
as root, so as root it runs as ``nobody`` (through ``setpriv``) in a folder
that user can write, and the command run as root must say why it refuses.

A host that is not installed skips, naming what installs it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from test_cli_servers import APPS, bridge_serve, require, sigterm

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(os.name == "nt", reason="POSIX signals")]

# Where --root-path is applied by bridge._cli_entry (uWSGI) or by Apache, a request outside it
# is 404 without reaching the app; granian and gunicorn apply it their own way.
NOT_FOUND_OUTSIDE_ROOT_PATH = {"uwsgi", "mod_wsgi"}
MIN_REQUESTS, REQUESTS = 24, 400  # spread over the workers; each answer names its PID


def _serve_and_stop(folder: Path, server: str, *extra: str, prefix: tuple[str, ...] = ()) -> None:
    args = ["cli_apps:asgi_app", "--server", server, "--workers", "2", "--root-path", "/mount"]
    with bridge_serve(folder, *args, *extra, "--log-level", "warning", prefix=prefix) as served:
        pids: set[str] = set()
        deadline = time.monotonic() + 20
        with httpx.Client(base_url=served.url, timeout=30) as client:
            # Until both workers answered (a gunicorn worker still booting misses SIGTERM:
            # gunicorn then waits out its 30 s graceful timeout), within a count and a time.
            for count in range(REQUESTS):
                if (len(pids) == 2 and count >= MIN_REQUESTS) or time.monotonic() > deadline:
                    break
                response = client.get("/mount/hello", headers={"Connection": "close"})
                assert response.status_code == 200, served.log.read_text()
                text, _, pid = response.text.partition(" pid=")
                assert text == "asgi root=/mount"
                pids.add(pid)
            if server in NOT_FOUND_OUTSIDE_ROOT_PATH:
                assert client.get("/elsewhere").status_code == 404, served.log.read_text()
        print(f"{server}: {count} requests, answered by workers {sorted(pids)}")
        for pid in pids:  # startup ran in every worker that served, before it answered
            assert (folder / f"startup.{pid}").read_text() == "up"
        code = sigterm(served)
    log = served.log.read_text()
    assert code == 0, log
    for pid in pids:
        assert (folder / f"shutdown.{pid}").read_text() == "down", f"worker {pid}:\n{log}"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "cli_apps.py").write_text(APPS)
    return tmp_path


@pytest.mark.timeout(120)
@pytest.mark.parametrize("server", ["uwsgi", "granian-wsgi", "gunicorn-gevent"])
def test_every_serving_worker_runs_lifespan_startup_and_shutdown(folder: Path, server: str) -> None:
    require(server)
    _serve_and_stop(folder, server)


@pytest.fixture
def shared_folder() -> Iterator[Path]:
    """A folder another user can read and write (pytest's tmp_path is root's alone)."""
    path = Path(tempfile.mkdtemp(prefix="bridge-cli-hosts-"))
    try:
        path.chmod(0o777)
        (path / "cli_apps.py").write_text(APPS)
        (path / "cli_apps.py").chmod(0o644)
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def as_ordinary_user() -> tuple[str, ...]:
    """The prefix that runs a command as ``nobody`` when this is root (Apache's rule), or ()."""
    if os.geteuid() != 0:
        return ()
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root, and setpriv (Debian's util-linux) is not installed")
    prefix = (setpriv, "--reuid=nobody", "--regid=nogroup", "--clear-groups")
    probe = subprocess.run(
        [*prefix, sys.executable, "-c", "import bridge, mod_wsgi"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if probe.returncode != 0:  # a checkout or venv under a folder only root may enter
        pytest.skip(f"user nobody cannot run this checkout's Python: {probe.stderr[-300:]}")
    return prefix


@pytest.mark.timeout(120)
def test_mod_wsgi_express_daemon_processes(shared_folder: Path) -> None:
    require("mod_wsgi")
    _serve_and_stop(shared_folder, "mod_wsgi", "--threads", "4", prefix=as_ordinary_user())


@pytest.mark.timeout(60)
@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root")
def test_mod_wsgi_as_root_says_why_it_refuses(folder: Path) -> None:
    require("mod_wsgi")
    result = subprocess.run(
        [sys.executable, "-m", "bridge", "serve", "cli_apps:asgi_app", "--server", "mod_wsgi"],
        cwd=folder,
        env={**os.environ, "MARKER_DIR": str(folder)},
        capture_output=True,
        text=True,
        timeout=50,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert "Apache does not serve as root" in result.stderr
    assert "--user and --group" in result.stderr
