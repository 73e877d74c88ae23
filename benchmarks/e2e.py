"""End to end over 127.0.0.1: real servers, a separate load generator.

Each server runs in its own process group pinned to CPU 0; the load generator
(Debian's ``wrk``, or :mod:`benchmarks.loadgen` when ``wrk`` is missing) runs
pinned to CPU 1. The servers of one comparison (say, Flask on uvicorn through
each bridge) are started together, warmed up, and then loaded in turn with
short loads, the order rotating from round to round; the result is the median
of each server's loads in requests per second.
"""

from __future__ import annotations

import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SERVER_CPU = 0
CLIENT_CPU = 1
CONNECTIONS = 16


def _uvicorn(app: str) -> list[str]:
    return [
        "-m",
        "uvicorn",
        "--log-level",
        "warning",
        "--no-access-log",
        "--host",
        "127.0.0.1",
        "--port",
        "{port}",
        f"benchmarks.e2e_apps:{app}",
    ]


def _gunicorn(worker: str, app: str) -> list[str]:
    extra = ["--threads", "4"] if worker == "gthread" else []
    return [
        "-m",
        "gunicorn",
        "--log-level",
        "warning",
        "-w",
        "1",
        "-k",
        worker,
        *extra,
        "-b",
        "127.0.0.1:{port}",
        f"benchmarks.e2e_apps:{app}",
    ]


def _waitress(app: str) -> list[str]:
    return [
        "-m",
        "waitress",
        "--threads=4",
        "--listen=127.0.0.1:{port}",
        f"benchmarks.e2e_apps:{app}",
    ]


# group -> [(implementation, server arguments)]; the first group compares
# WSGI->ASGI bridges, the other two ASGI->WSGI bridges against plain WSGI.
CONFIGS: dict[str, list[tuple[str, list[str]]]] = {
    "Flask on uvicorn": [
        ("bridge", _uvicorn("flask_bridge")),
        ("a2wsgi", _uvicorn("flask_a2wsgi")),
        ("asgiref", _uvicorn("flask_asgiref")),
        ("uvicorn", _uvicorn("flask_uvicorn")),
        ("gunicorn sync (native)", _gunicorn("sync", "flask_wsgi")),
    ],
    "Starlette on gunicorn gthread": [
        ("bridge", _gunicorn("gthread", "starlette_bridge")),
        ("a2wsgi", _gunicorn("gthread", "starlette_a2wsgi")),
        ("plain WSGI", _gunicorn("gthread", "plain_wsgi")),
        ("one-hop floor", _gunicorn("gthread", "hop_wsgi")),
        ("one hop + Starlette", _gunicorn("gthread", "hop_starlette")),
    ],
    "Starlette on waitress": [
        ("bridge", _waitress("starlette_bridge")),
        ("a2wsgi", _waitress("starlette_a2wsgi")),
        ("plain WSGI", _waitress("plain_wsgi")),
        ("one-hop floor", _waitress("hop_wsgi")),
        ("one hop + Starlette", _waitress("hop_starlette")),
    ],
}


def ensure_wrk(log: Callable[[str], None]) -> str | None:
    """The path of ``wrk``, installing Debian's package if we can; None otherwise."""
    found = shutil.which("wrk")
    if found:
        return found
    apt = shutil.which("apt-get")
    if apt and os.geteuid() == 0:
        log("wrk not found: apt-get install -y wrk")
        try:
            subprocess.run(
                [apt, "install", "-y", "-q", "wrk"],
                capture_output=True,
                timeout=300,
                check=False,
                env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
            )
        except (OSError, subprocess.TimeoutExpired):
            pass
        found = shutil.which("wrk")
    if not found:
        log("wrk unavailable: using the Python load generator (benchmarks/loadgen.py)")
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _pin(cpu: int) -> Callable[[], None]:
    def pin() -> None:
        os.sched_setaffinity(0, {cpu % os.cpu_count()})  # type: ignore[operator]

    return pin


def _wait_ready(port: int, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/")
            response = conn.getresponse()
            body = response.read()
            conn.close()
        except OSError:
            time.sleep(0.1)
            continue
        if response.status != 200 or body != b"Hello, world!":
            raise RuntimeError(f"server answered {response.status} {body[:60]!r}")
        return
    raise RuntimeError("server did not answer within 30 s")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)  # the group of the server we started
            proc.wait(10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(10)


_WRK_RPS = re.compile(r"Requests/sec:\s+([\d.]+)")
_WRK_BAD = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")
_WRK_SOCKET = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")
_WRK_TOTAL = re.compile(r"(\d+) requests in")


def _load(wrk: str | None, port: int, duration: float) -> dict[str, float]:
    url = f"http://127.0.0.1:{port}/"
    timeout = duration + 60
    if wrk is not None:
        out = subprocess.run(
            [wrk, "-t1", f"-c{CONNECTIONS}", f"-d{duration:g}s", url],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=True,
            preexec_fn=_pin(CLIENT_CPU),
        )
        text = out.stdout
        rps = _WRK_RPS.search(text)
        if rps is None:
            raise RuntimeError(f"unexpected wrk output: {text!r}")
        errors = sum(int(m.group(1)) for m in _WRK_BAD.finditer(text))
        socket_errors = _WRK_SOCKET.search(text)
        # gunicorn's sync worker closes every connection: wrk counts those
        # reconnects as read errors, so they are reported but not failures.
        total = _WRK_TOTAL.search(text)
        count = float(total.group(1)) if total else 0.0
        # wrk's Requests/sec counts every answer; only the 2xx ones count here.
        ok_share = (count - errors) / count if count else 1.0
        return {
            "requests_per_s": float(rps.group(1)) * ok_share,
            "requests": count,
            "errors": float(errors),
            "socket_errors": float(sum(map(int, socket_errors.groups()))) if socket_errors else 0.0,
        }
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.loadgen",
            url,
            "--connections",
            str(CONNECTIONS),
            "--duration",
            str(duration),
            "--cpu",
            str(CLIENT_CPU),
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=True,
        cwd=ROOT,
    )
    import json

    result: dict[str, float] = json.loads(out.stdout)
    return result


class _Server:
    """One server process on a free port, pinned to the server CPU, in its own group."""

    def __init__(self, args: list[str], log_dir: Path) -> None:
        self.port = _free_port()
        command = [sys.executable, *(a.replace("{port}", str(self.port)) for a in args)]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        # A file, not a pipe nobody reads: waitress logs a line per queued task, and
        # a full pipe would stall the server.
        self.log_path = log_dir / f"server-{self.port}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_pin(SERVER_CPU),  # noqa: PLW1509
        )

    def ready(self) -> None:
        try:
            _wait_ready(self.port, self.proc)
        except RuntimeError as exc:
            tail = self.log_path.read_text(errors="replace")[-300:]
            raise RuntimeError(f"{exc}; server log ends: {tail!r}") from None

    def stop(self) -> None:
        _stop(self.proc)
        self._log.close()


def starlette_alone(rounds: int, requests: int = 20000) -> list[float]:
    """µs per Starlette hello awaited directly, no server, no bridge.

    One fresh process per round, pinned to the servers' CPU.
    """
    code = f"from benchmarks.e2e_apps import starlette_cost_us as f; print(f({requests}))"
    values = []
    for _ in range(rounds):
        out = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            timeout=300,
            check=True,
            cwd=ROOT,
            preexec_fn=_pin(SERVER_CPU),
        )
        values.append(float(out.stdout.strip()))
    return values


def run(
    rounds: int,
    duration: float,
    wrk: str | None,
    only: set[str] | None,
    log: Callable[[str], None],
) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """{group: {implementation: [one result per load]}}.

    The servers of one group run side by side (idle while another is loaded) and
    take turns, ``rounds`` short loads each, the order rotating every round, so a
    burst of load from elsewhere on the machine hits all of them alike.
    """
    import tempfile

    results: dict[str, dict[str, list[dict[str, Any]]]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-e2e-") as tmp:
        for group, entries in CONFIGS.items():
            chosen = [
                (name, args)
                for name, args in entries
                if only is None or f"{group}/{name}" in only or name in only
            ]
            servers: list[tuple[str, _Server]] = []
            try:
                for name, args in chosen:
                    server = _Server(args, Path(tmp))
                    servers.append((name, server))
                live = []
                for name, server in servers:
                    try:
                        server.ready()
                        _load(wrk, server.port, min(duration, 1.0))  # warm-up
                        live.append((name, server))
                    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
                        log(f"e2e {group} / {name}: failed to start: {exc}")
                for round_number in range(rounds):
                    shift = round_number % max(len(live), 1)
                    for name, server in live[shift:] + live[:shift]:
                        try:
                            result: dict[str, Any] = _load(wrk, server.port, duration)
                        except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
                            log(f"e2e {group} / {name}: failed: {exc}")
                            continue
                        log(f"e2e {group} / {name}: {result['requests_per_s']:.0f} req/s")
                        results.setdefault(group, {}).setdefault(name, []).append(result)
            finally:
                for _, server in servers:
                    server.stop()
    return results
