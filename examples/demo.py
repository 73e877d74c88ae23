"""`make demo`: both directions of the bridge, on real servers, over 127.0.0.1.

1. Flask (WSGI) served by uvicorn (ASGI) through bridge.WsgiToAsgi.
2. FastAPI (ASGI) served by waitress (WSGI) through bridge.AsgiToWsgi.

Each server is started on a free port, asked a few questions with httpx, and
stopped by its PID. Exit status 0 only if every answer was right.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def server(command: list[str], port: int) -> Iterator[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                output = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
                raise RuntimeError(f"{command[2]} exited early:\n{output}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{command[2]} did not listen within 30 s") from None
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def check(label: str, response: httpx.Response, expected: str) -> bool:
    ok = response.status_code == 200 and expected in response.text
    mark = "ok  " if ok else "FAIL"
    print(f"  [{mark}] {label} -> {response.status_code} {response.text.strip()[:70]}")
    return ok


def main() -> int:
    results: list[bool] = []
    python = sys.executable

    port = free_port()
    print("Flask (WSGI) on uvicorn (ASGI) through bridge.WsgiToAsgi")
    command = [
        python,
        "-m",
        "uvicorn",
        "examples.flask_app:app",
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
    with server(command, port) as url, httpx.Client(base_url=url, timeout=10) as client:
        results.append(check("GET /", client.get("/"), "Hello from Flask"))
        results.append(check("POST /echo", client.post("/echo", content=b"ping"), '"length":4'))
        chunked = client.post("/echo", content=iter([b"chunked ", b"upload"]))
        results.append(check("POST /echo (chunked, no Content-Length)", chunked, '"length":14'))

    port = free_port()
    print("FastAPI (ASGI) on waitress (WSGI) through bridge.AsgiToWsgi")
    command = [
        python,
        "-m",
        "waitress",
        "--listen",
        f"127.0.0.1:{port}",
        "examples.fastapi_app:app",
    ]
    with server(command, port) as url, httpx.Client(base_url=url, timeout=10) as client:
        results.append(check("GET /", client.get("/"), '"lifespan_ran":true'))
        results.append(check("POST /echo", client.post("/echo", content=b"pong"), '"length":4'))

    passed = sum(results)
    print(f"{passed} of {len(results)} answers right")
    return 0 if passed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
