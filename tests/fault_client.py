"""Client side of the fault and soak tests: raw-socket HTTP/1.1 against 127.0.0.1.

Everything here is bounded: every socket has a timeout and every poll a deadline.

* :func:`payload` is the deterministic body both sides agree on (the apps in
  ``tests/fault_apps.py`` stream it; the client checks its sha256).
* :func:`request` sends one request on a fresh connection and reads the whole
  response (Content-Length or chunked); a cut connection comes back as
  ``Response(complete=False)`` instead of an exception.
* The ``cut_*`` functions are the faults: the client goes away before the
  body, in the middle of an upload, in the middle of a download, or while the
  app is still computing.
* :func:`diag` reads the server's ``/diag`` endpoint (threads, loop tasks,
  open fds, RSS, pymalloc blocks, the apps' counters); :func:`settle` polls it
  until a condition holds or a deadline passes; :func:`assert_baseline` polls
  until everything is back at a baseline, within the slack below.
* :func:`start` runs one of :data:`SERVERS` (the fault apps on uvicorn,
  gunicorn gthread or tests/wsgiref_server.py) through tests/servers.py;
  :func:`started` runs several for a ``with`` block; :func:`warm_up` uses
  every route once and fills the thread pools, so the baseline it returns is
  the steady state; :func:`gate` proves N workers free.

Baseline slack: threads and loop tasks none; fds +2 (a connection not reaped
yet); RSS +24 MiB (the allocator keeps peak arenas: under a burst of cut
uploads uvicorn's RSS stays at its high-water mark although the traced Python
memory returns to baseline); pymalloc blocks +2 % + 1000.
"""

from __future__ import annotations

import hashlib
import json
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from servers import ServerProcess, gunicorn, script, uvicorn, waitress

_BLOCK = hashlib.sha256(b"bridge-faults").digest() * 2048  # 64 KiB


def payload(size: int, offset: int = 0) -> bytes:
    """``size`` deterministic bytes (a repeating 64 KiB block), starting at ``offset``."""
    out = bytearray()
    start = offset % len(_BLOCK)
    while len(out) < size:
        out += _BLOCK[start : start + size - len(out)]
        start = 0
    return bytes(out)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class Response:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    complete: bool = True

    def json(self) -> Any:
        return json.loads(self.body)


def connect(port: int, timeout: float = 30) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=timeout)


def head(
    method: str, path: str, headers: dict[str, str] | None = None, length: int | None = None
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class _Reader:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = b""
        self.eof = False

    def _fill(self) -> bool:
        if self.eof:
            return False
        try:
            data = self.sock.recv(262144)
        except (ConnectionResetError, BrokenPipeError):
            data = b""
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True

    def line(self) -> bytes | None:
        while b"\r\n" not in self.buf:
            if not self._fill():
                return None
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line

    def exactly(self, n: int) -> bytes | None:
        while len(self.buf) < n:
            if not self._fill():
                return None
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def rest(self) -> bytes:
        while self._fill():
            pass
        data, self.buf = self.buf, b""
        return data


def read_response(sock: socket.socket, method: str = "GET") -> Response:
    """Read one response; ``complete=False`` if the connection was cut before its end."""
    reader = _Reader(sock)
    status_line = reader.line()
    if not status_line:
        return Response(0, complete=False)
    status = int(status_line.split()[1])
    headers: dict[str, str] = {}
    while True:
        line = reader.line()
        if line is None:
            return Response(status, headers, complete=False)
        if not line:
            break
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    if method == "HEAD" or status in (204, 304):
        return Response(status, headers)
    if headers.get("transfer-encoding", "").lower() == "chunked":
        parts: list[bytes] = []
        while True:
            size_line = reader.line()
            if size_line is None:
                return Response(status, headers, b"".join(parts), complete=False)
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                return Response(status, headers, b"".join(parts))
            data = reader.exactly(size + 2)
            if data is None:
                return Response(status, headers, b"".join(parts), complete=False)
            parts.append(data[:-2])
    if "content-length" in headers:
        length = int(headers["content-length"])
        data = reader.exactly(length)
        if data is None:
            return Response(status, headers, reader.rest(), complete=False)
        return Response(status, headers, data)
    return Response(status, headers, reader.rest())  # delimited by the close


def request(
    port: int,
    method: str,
    path: str,
    body: bytes | None = None,
    *,
    headers: dict[str, str] | None = None,
    timeout: float = 30,
) -> Response:
    """One request on its own connection (``Connection: close``); never raises on a cut."""
    with connect(port, timeout) as sock:
        sock.sendall(head(method, path, headers, None if body is None else len(body)))
        if body:
            try:
                sock.sendall(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the server answered early (an error): read what it said
        return read_response(sock, method)


def _abort(sock: socket.socket) -> None:
    """Close with a RST, as a client that vanished would (no FIN handshake)."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    sock.close()


def cut_before_body(port: int, path: str = "/echo", length: int = 1_000_000) -> None:
    """Headers announce a body, then the client vanishes before sending a byte of it."""
    sock = connect(port)
    sock.sendall(head("POST", path, length=length))
    _abort(sock)


def cut_mid_upload(port: int, path: str = "/echo", length: int = 4_000_000) -> None:
    """Send about a quarter of the announced body, then vanish."""
    sock = connect(port)
    sock.sendall(head("POST", path, length=length))
    sock.sendall(payload(length // 4))
    _abort(sock)


def cut_mid_download(port: int, path: str = "/endless", after: int = 256 * 1024) -> None:
    """Read ``after`` bytes of a long response, then vanish."""
    sock = connect(port)
    sock.sendall(head("GET", path))
    received = 0
    while received < after:
        data = sock.recv(65536)
        if not data:
            raise AssertionError(f"the server ended the response after {received} bytes")
        received += len(data)
    _abort(sock)


def cut_while_computing(port: int, path: str, started: Callable[[], bool]) -> None:
    """Send a request, wait (bounded) until the app is computing, then vanish."""
    sock = connect(port)
    sock.sendall(head("GET", path))
    deadline = time.monotonic() + 30
    while not started():
        if time.monotonic() > deadline:
            sock.close()
            raise AssertionError("the app never started computing")
        time.sleep(0.02)  # polling the server's counters, bounded by the deadline
    _abort(sock)


def diag(port: int) -> dict[str, Any]:
    response = request(port, "GET", "/diag", timeout=30)
    assert response.status == 200 and response.complete, response
    result: dict[str, Any] = response.json()
    return result


def settle(
    port: int, done: Callable[[dict[str, Any]], bool], timeout: float = 30
) -> dict[str, Any]:
    """Poll ``/diag`` until ``done(snapshot)`` or the deadline; return the last snapshot."""
    deadline = time.monotonic() + timeout
    while True:
        snapshot = diag(port)
        if done(snapshot) or time.monotonic() > deadline:
            return snapshot
        time.sleep(0.05)  # polling the server, bounded by the deadline


RSS_SLACK = 24 * 1024 * 1024  # allocator arenas and caches; a per-request leak is far more
FD_SLACK = 2  # a connection the server has not reaped yet


def back_to_baseline(
    base: dict[str, Any], now: dict[str, Any], *, fd_slack: int = FD_SLACK
) -> bool:
    return bool(
        now["active"] == 0
        and now["open_iterables"] == 0
        and now["threads"] <= base["threads"]
        and now["tasks"] <= base["tasks"]
        and now["fds"] <= base["fds"] + fd_slack
        and now["rss"] <= base["rss"] + RSS_SLACK
        and now["blocks"] <= base["blocks"] * 1.02 + 1000  # Python objects still alive
    )


def assert_baseline(port: int, base: dict[str, Any], timeout: float = 30) -> dict[str, Any]:
    """Poll until threads, tasks, fds and RSS are back at ``base``; fail with both snapshots."""
    now = settle(port, lambda snap: back_to_baseline(base, snap), timeout)
    assert back_to_baseline(base, now), f"not back to baseline:\nbefore {base}\nafter  {now}"
    return now


# -- the servers the fault and soak tests start -------------------------------------
WORKERS = 4  # WsgiToAsgi's pool on uvicorn, gunicorn's threads


GTHREAD = ("-k", "gthread", "-w", "1", "--threads", str(WORKERS))
GUNICORN_OPTIONS = (*GTHREAD, "--graceful-timeout", "5", "--log-level", "warning")
UVICORN_OPTIONS = ("--timeout-graceful-shutdown", "2")

SERVERS = {
    "wsgi": uvicorn("fault_apps:on_uvicorn", *UVICORN_OPTIONS),
    "asgi": gunicorn("fault_apps:on_wsgi", *GUNICORN_OPTIONS),
    "nested-wsgi": gunicorn("fault_apps:nested_on_wsgi", *GUNICORN_OPTIONS),
    "nested-asgi": uvicorn("fault_apps:nested_on_uvicorn", *UVICORN_OPTIONS),
    "asgi-waitress": waitress("fault_apps:on_wsgi", f"--threads={WORKERS}"),
    "asgi-wsgiref": script("fault_apps:on_wsgi"),
}


def start(name: str, workdir: Path) -> ServerProcess:
    return ServerProcess(name, SERVERS[name], workdir, env={"BRIDGE_WORKERS": str(WORKERS)})


@contextmanager
def started(names: Iterable[str], workdir: Path) -> Iterator[dict[str, ServerProcess]]:
    """The named :data:`SERVERS`, running; each is stopped by its PID on the way out."""
    running: dict[str, ServerProcess] = {}
    try:
        for name in names:
            running[name] = start(name, workdir)
        yield running
    finally:
        for server in running.values():
            server.stop()


def parallel(jobs: list[Callable[[], Any]], timeout: float = 60) -> list[Any]:
    """Run the jobs on threads at once; return their results (an exception fails the test)."""
    results: list[Any] = [None] * len(jobs)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            results[i] = jobs[i]()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(len(jobs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    assert not any(thread.is_alive() for thread in threads), "requests still running: a deadlock"
    assert not errors, errors
    return results


def gate(port: int, n: int) -> None:
    """Prove that ``n`` workers are free: n requests must be in the app at the same time."""
    answers = parallel([lambda: request(port, "GET", f"/gate?n={n}")] * n)
    assert [(a.status, a.body) for a in answers] == [(200, b"gate %d" % n)] * n


def warm_up(port: int) -> dict[str, Any]:
    """Use every path once and fill the thread pools; return the baseline."""
    assert request(port, "GET", "/hello").body == b"hello"
    body = payload(300_000)
    assert request(port, "POST", "/echo", body).json() == {"length": len(body), "sha256": sha(body)}
    assert request(port, "GET", "/stream?size=1000000").body == payload(1_000_000)
    for stage in ("before", "mid_body"):
        request(port, "GET", f"/error?stage={stage}")
    gate(port, WORKERS)
    return settle(port, lambda snap: snap["active"] == 0 and snap["open_iterables"] == 0)


# stage -> (status, complete) for each direction: a 500 while nothing was sent, else a cut.
STAGES = {
    "wsgi": {
        "before": (500, True),
        "after_start": (500, True),  # headers wait for the first chunk: still replaceable
        "mid_body": (200, False),
        # Issue 13: the body went out whole; the failing close() is raised to the server after it
        "close": (200, True),
    },
    "asgi": {
        "before": (500, True),
        "after_start": (500, True),  # start_response waits for the first body
        "mid_body": (200, False),
    },
}
