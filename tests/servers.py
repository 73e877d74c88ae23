"""Server processes for the real-server tests: start on a free 127.0.0.1 port, stop by PID.

:class:`ServerProcess` runs one command (built from the port it is given) in
its own process group with ``tests/`` and the project root on ``PYTHONPATH``,
waits (bounded) until the port accepts connections, and on :meth:`stop` sends
SIGTERM to the group, then SIGKILL if it has not exited within 15 s.
``MARKER_DIR`` in its environment is the folder the apps write to.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
PY = sys.executable


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    """One server process on 127.0.0.1; ``command(port)`` gives its argv."""

    def __init__(
        self,
        name: str,
        command: Callable[[int], list[str]],
        markers: Path,
        env: dict[str, str] | None = None,
    ) -> None:
        self.name = name
        self.markers = markers
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        full_env = {
            **os.environ,
            "PYTHONPATH": f"{TESTS}{os.pathsep}{ROOT}",
            "MARKER_DIR": str(markers),
            **(env or {}),
        }
        self.log = markers / f"server-{name}.log"
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                command(self.port),
                cwd=TESTS,
                env=full_env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 30
        while True:
            if self.proc.poll() is not None:
                pytest.fail(f"{name} exited early:\n{self.log.read_text()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    pytest.fail(f"{name} did not listen within 30 s:\n{self.log.read_text()}")
                time.sleep(0.05)  # polling for the port, bounded by the deadline

    def stop(self) -> int | None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=15)
        return self.proc.returncode

    def wait_for_marker(self, name: str, timeout: float = 15) -> list[Path]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = sorted(self.markers.glob(f"{name}.*"))
            if found:
                return found
            time.sleep(0.05)  # polling a file the server writes, bounded by the deadline
        return []
