"""Every example runs as its docstring says, and `make demo` (README command one) works.

The commands are read from the examples' docstrings (lines starting with ``$``),
so the documented commands are the tested ones. Each runs from the repository
root with this virtual environment's scripts first on PATH, on a free port on
127.0.0.1 (the ``8000`` in the command is replaced), is asked real questions
with httpx, and is stopped by its PID (SIGTERM; its own process group is
killed if it does not stop).
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from servers import ServerProcess

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
BIN = Path(sys.executable).parent


def documented_commands(name: str) -> list[str]:
    doc = ast.get_docstring(ast.parse((EXAMPLES / name).read_text())) or ""
    return [line.strip()[2:] for line in doc.splitlines() if line.strip().startswith("$ ")]


@contextmanager
def running(command: str, log: Path) -> Iterator[httpx.Client]:
    def argv(port: int) -> list[str]:
        words = re.sub(r"\b8000\b", str(port), command).split()
        words[0] = str(BIN / words[0])  # this venv's console script, as an activated venv would
        return words

    server = ServerProcess(
        repr(command),
        argv,
        log.parent,
        {"PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"},
        log=log,
        cwd=ROOT,
        pythonpath=False,  # as typed: the commands must work from the repository root
        startup_seconds=45,
    )
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            yield client
    finally:
        server.stop(20, group=False)


def check_flask(client: httpx.Client) -> None:
    assert client.get("/").text == "Hello from Flask"
    chunked = client.post("/echo", content=iter([b"chunked ", b"upload"]))
    assert chunked.json() == {"length": 14, "text": "chunked upload"}


def check_fastapi(client: httpx.Client) -> None:
    assert client.get("/").json() == {"message": "Hello from FastAPI", "lifespan_ran": True}
    assert client.post("/echo", content=b"pong").json() == {"length": 4, "text": "pong"}


def check_flask_in_fastapi(client: httpx.Client) -> None:
    assert client.get("/api/hello").json() == {"message": "Hello from FastAPI"}
    assert client.get("/legacy/").json() == {
        "message": "Hello from Flask inside FastAPI",
        "script_root": "/legacy",
        "self": "/legacy/",
    }
    assert client.get("/missing").status_code == 404


def check_django(client: httpx.Client) -> None:
    home = client.get("/")
    assert (home.status_code, home.text) == (200, "Hello from Django")
    echoed = client.post("/echo", content=b"x" * 1000).json()
    assert echoed == {"length": 1000, "method": "POST", "path": "/echo"}
    assert client.get("/info", params={"q": "é"}).json() == {
        "query": "é",
        "server": "HTTP/1.1",
    }
    assert client.get("/nope").status_code == 404


def check_sse(client: httpx.Client) -> None:
    with client.stream("GET", "/events", params={"count": "5"}) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        assert "content-length" not in response.headers  # streamed, not buffered whole
        events = [line for line in response.iter_lines() if line.startswith("data: ")]
    assert events == [f"data: tick {n}" for n in range(5)] + ["data: bye"]


CHECKS: dict[str, Callable[[httpx.Client], None]] = {
    "flask_app.py": check_flask,
    "fastapi_app.py": check_fastapi,
    "flask_in_fastapi.py": check_flask_in_fastapi,
    "django_app.py": check_django,
    "starlette_sse.py": check_sse,
}
CASES = [
    pytest.param(name, command, id=f"{name}:{command.split()[0]}-{index}")
    for name in CHECKS
    for index, command in enumerate(documented_commands(name))
]


def test_every_example_documents_commands() -> None:
    assert {p.name for p in EXAMPLES.glob("*.py")} - {"demo.py"} == set(CHECKS)
    for name in CHECKS:
        commands = documented_commands(name)
        assert commands, f"{name} documents no '$ ' run command"
        assert all("8000" in command for command in commands), commands


@pytest.mark.e2e
@pytest.mark.timeout(90)
@pytest.mark.parametrize(("name", "command"), CASES)
def test_example_runs_as_documented(name: str, command: str, tmp_path: Path) -> None:
    with running(command, tmp_path / "server.log") as client:
        CHECKS[name](client)


@pytest.mark.e2e
@pytest.mark.timeout(120)
def test_demo_serves_both_directions_on_real_servers() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "demo.py")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "5 of 5 answers right" in result.stdout
    assert "FAIL" not in result.stdout
