"""Run a function in a forked child and get what it reports back, bounded in time.

:func:`in_fork` forks; the child runs ``child()``, writes the bytes it returns
(or the ``repr`` of what it raised) to a pipe and leaves with ``os._exit``
(0, or 1 after an exception), never returning into pytest. The parent reads
the pipe until EOF and reaps the child; past ``timeout`` the child is killed
and the test fails. The wait is on the pipe (select), so nothing sleeps.
"""

from __future__ import annotations

import os
import select
import signal
import time
from collections.abc import Callable

import pytest


def in_fork(child: Callable[[], bytes], timeout: float) -> tuple[int, int, bytes]:
    """``(pid, wait status, report)`` of a forked child that ran ``child()``."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        code = 1
        try:
            os.close(read_fd)
            os.write(write_fd, child())
            code = 0
        except BaseException as exc:
            os.write(write_fd, repr(exc).encode())
        finally:
            os._exit(code)
    os.close(write_fd)
    try:
        status, report = _collect(pid, read_fd, timeout)
    finally:
        os.close(read_fd)
    return pid, status, report


def _collect(pid: int, read_fd: int, timeout: float) -> tuple[int, bytes]:
    """Read the child's report until EOF (its exit), then reap it; bounded."""
    deadline = time.monotonic() + timeout
    report = b""
    while True:
        remaining = deadline - time.monotonic()
        readable = select.select([read_fd], [], [], max(remaining, 0))[0] if remaining > 0 else []
        if not readable:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            pytest.fail(f"the forked child did not finish in time; it reported {report!r}")
        chunk = os.read(read_fd, 65536)
        if not chunk:
            break
        report += chunk
    while True:  # EOF came from the child's exit: reaping it is prompt, but stay bounded
        done, status = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return status, report
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            pytest.fail("the forked child closed its pipe but did not exit")
        select.select([], [], [], 0.01)
