"""The ``bridge`` command: app detection, ``inspect``, ``serve`` errors, and a real ``serve``."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from bridge.__main__ import main
from bridge._detect import ASGI2, ASGI3, WSGI, interface_of

APPS = """
def wsgi_app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"wsgi says hi"]

async def asgi_app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            await send({"type": message["type"] + ".complete"})
            if message["type"] == "lifespan.shutdown":
                return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"asgi says hi"})

class Asgi2:
    def __init__(self, scope):
        self.scope = scope
    async def __call__(self, receive, send):
        pass

def make_wsgi():
    return wsgi_app

not_an_app = 42
"""


@pytest.fixture
def app_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "cli_apps.py").write_text(APPS)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_interface_detection() -> None:
    def wsgi(environ: Any, start_response: Any) -> list[bytes]:
        return []

    async def asgi(scope: Any, receive: Any, send: Any) -> None:
        return None

    class Asgi2:
        def __init__(self, scope: Any) -> None:
            self.scope = scope

    class AsgiObject:
        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            return None

    assert interface_of(wsgi) == WSGI
    assert interface_of(asgi) == ASGI3
    assert interface_of(AsgiObject()) == ASGI3
    assert interface_of(Asgi2) == ASGI2
    with pytest.raises(TypeError, match="not callable"):
        interface_of(42)
    with pytest.raises(TypeError, match="cannot tell"):
        interface_of(lambda a, b, c, d: None)


def test_inspect_reports_kind_and_wrapping(
    app_module: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["inspect", "cli_apps:wsgi_app"]) == 0
    out = capsys.readouterr().out
    assert "WSGI application" in out
    assert "uvicorn  through bridge.WsgiToAsgi" in out
    assert main(["inspect", "cli_apps:asgi_app"]) == 0
    out = capsys.readouterr().out
    assert "ASGI 3 application" in out
    assert "wsgiref  through bridge.AsgiToWsgi" in out
    assert main(["inspect", "cli_apps:make_wsgi()"]) == 0
    assert "WSGI application" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("no_such_module_xyz:app", "not found"),
        ("cli_apps:missing", "has no attribute 'missing'"),
        ("cli_apps", "expected MODULE:ATTR"),
        ("cli_apps:not_an_app", "not callable"),
    ],
)
def test_load_errors_are_clear(
    app_module: Path, capsys: pytest.CaptureFixture[str], target: str, message: str
) -> None:
    assert main(["inspect", target]) == 1
    assert message in capsys.readouterr().err


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.e2e
@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("attr", "server", "body"),
    [
        ("asgi_app", "wsgiref", b"asgi says hi"),
        ("wsgi_app", "uvicorn", b"wsgi says hi"),
    ],
)
def test_serve_wraps_for_the_other_interface(
    app_module: Path, attr: str, server: str, body: bytes
) -> None:
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(app_module)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bridge",
            "serve",
            f"cli_apps:{attr}",
            "--server",
            server,
            "--port",
            str(port),
        ],
        cwd=app_module,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 20
        answer = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
                    answer = (response.status, response.read())
                break
            except OSError:
                time.sleep(0.05)  # polling for the port to open, bounded by the deadline
        assert answer == (200, body), proc.stdout.read() if proc.poll() is not None else answer
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
