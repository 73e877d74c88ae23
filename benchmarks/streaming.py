"""Streaming throughput and memory: a large body down and up through each direction.

    python -m benchmarks.streaming --one w2a download bridge --mib 256

Each measurement runs in a fresh process pinned to one CPU, like the per-request
benchmark, and prints one JSON object: the MB/s (10**6 bytes per second) of the
transfer and how much the process's peak resident set (``VmHWM`` in
/proc/self/status) grew during it. Every chunk is a fresh 64 KiB bytes object,
so a bridge that queued chunks without bound would show it as RSS growth.

It also gives, from ``getrusage`` over the whole process across the transfer,
the context switches per 64 KiB of body (all of them, and the involuntary ones
among them: a thread preempted while it could still run), the CPU time per
second of transfer and the kernel's share of that CPU time. The switch counts
are exact; the CPU times come from the kernel's tick accounting and are coarse
for a transfer of a few dozen milliseconds (use a larger ``--mib`` to read
them).

Scenarios (the driver is minimal: no HTTP parsing, no sockets):

* ``w2a download``: a WSGI app yields the body in 64 KiB chunks; an ASGI driver
  counts the bytes of each ``http.response.body``.
* ``w2a upload``: the ASGI driver's ``receive`` hands out 64 KiB chunks; the
  WSGI app reads ``wsgi.input`` 64 KiB at a time.
* ``a2w download``: an ASGI app sends 64 KiB chunks with ``more_body``; the WSGI
  driver iterates the response.
* ``a2w upload``: ``wsgi.input`` hands out 64 KiB chunks; the ASGI app receives
  until ``more_body`` is false.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import resource
import time
from typing import Any

from benchmarks.peers import ENVIRON, wrap_asgi, wrap_wsgi

CHUNK = 65536
W2A = {"download": ["bridge", "a2wsgi", "asgiref", "uvicorn"], "upload": ["bridge", "a2wsgi"]}
A2W = {"download": ["bridge", "a2wsgi"], "upload": ["bridge", "a2wsgi", "bridge-64k"]}
# "bridge-64k" is AsgiToWsgi(chunk_size=65536), a2wsgi's read size: four times
# as many loop round trips per byte read from wsgi.input as the default 256 KiB.
# asgiref and uvicorn's middleware read the whole request body before calling
# the WSGI app (asgiref spools it to a temporary file, uvicorn keeps it in
# memory), so they are not streaming uploads and are left out of "upload".


def peak_rss_kib() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


class KernelCost:
    """Context switches and CPU time of this process (all threads), between two points."""

    def __init__(self) -> None:
        self._start = resource.getrusage(resource.RUSAGE_SELF)
        self.voluntary = self.involuntary = 0
        self.user_s = self.system_s = 0.0

    def stop(self) -> KernelCost:
        end = resource.getrusage(resource.RUSAGE_SELF)
        start = self._start
        self.voluntary = end.ru_nvcsw - start.ru_nvcsw
        self.involuntary = end.ru_nivcsw - start.ru_nivcsw
        self.user_s = end.ru_utime - start.ru_utime
        self.system_s = end.ru_stime - start.ru_stime
        return self


def _w2a_app(name: str, wsgi_app: Any) -> Any:
    return wrap_wsgi(name, wsgi_app)


def _a2w_app(name: str, asgi_app: Any) -> Any:
    if name == "bridge-64k":
        return wrap_asgi("bridge", asgi_app, chunk_size=CHUNK)
    return wrap_asgi(name, asgi_app)


def _scope(method: str, size: int) -> dict[str, Any]:
    headers = [(b"host", b"x")]
    if method == "POST":
        headers.append((b"content-length", str(size).encode()))
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": "/",
        "raw_path": b"/",
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }


async def _w2a_transfer(app: Any, way: str, size: int) -> int:
    """One request through a WSGI->ASGI bridge; returns the bytes moved."""
    done = asyncio.Event()
    received = 0
    sent_up = 0

    async def receive() -> dict[str, Any]:
        nonlocal sent_up
        if way == "upload" and sent_up < size:
            n = min(CHUNK, size - sent_up)
            sent_up += n
            return {"type": "http.request", "body": b"u" * n, "more_body": sent_up < size}
        if way == "download" and sent_up == 0:
            sent_up = -1
            return {"type": "http.request", "body": b"", "more_body": False}
        await done.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal received
        if message["type"] == "http.response.body":
            received += len(message.get("body", b""))
            if not message.get("more_body", False):
                done.set()

    await app(_scope("POST" if way == "upload" else "GET", size), receive, send)
    done.set()
    return received


def run_w2a(name: str, way: str, size: int) -> tuple[float, int, KernelCost]:
    state = {"size": size}

    def download(environ: dict[str, Any], start_response: Any) -> Any:
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        left = state["size"]
        while left > 0:
            n = min(CHUNK, left)
            left -= n
            yield b"d" * n

    def upload(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        read = environ["wsgi.input"].read
        total = 0
        while chunk := read(CHUNK):
            total += len(chunk)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [str(total).encode()]

    app = _w2a_app(name, download if way == "download" else upload)

    async def main() -> tuple[float, int, KernelCost]:
        state["size"] = 4 * CHUNK  # warm-up
        await _w2a_transfer(app, way, state["size"])
        state["size"] = size
        before = peak_rss_kib()
        cost = KernelCost()
        start = time.perf_counter()
        moved = await _w2a_transfer(app, way, size)
        elapsed = time.perf_counter() - start
        cost.stop()
        if way == "download" and moved != size:
            raise RuntimeError(f"{name} delivered {moved} bytes, not {size}")
        if way == "upload" and moved != len(str(size)):
            raise RuntimeError(f"{name} answered {moved} bytes for the upload")
        return elapsed, peak_rss_kib() - before, cost

    return asyncio.run(main())


class _Input:
    """A ``wsgi.input`` that produces ``size`` bytes in fresh chunks."""

    def __init__(self, size: int) -> None:
        self.left = size

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            n = self.left
        n = min(n, self.left, 4 * CHUNK)
        self.left -= n
        return b"u" * n

    def readline(self, n: int = -1) -> bytes:  # pragma: no cover - not used by the apps
        return self.read(n)


def run_a2w(name: str, way: str, size: int) -> tuple[float, int, KernelCost]:
    state = {"size": size}

    async def download(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        left = state["size"]
        while left > 0:
            n = min(CHUNK, left)
            left -= n
            await send({"type": "http.response.body", "body": b"d" * n, "more_body": left > 0})

    async def upload(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        total = 0
        while True:
            message = await receive()
            total += len(message.get("body", b""))
            if not message.get("more_body", False):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": str(total).encode()})

    app = _a2w_app(name, download if way == "download" else upload)

    def transfer(n: int) -> bytes | int:
        environ = {
            **ENVIRON,
            "REQUEST_METHOD": "POST" if way == "upload" else "GET",
            "wsgi.input": _Input(n) if way == "upload" else io.BytesIO(b""),
            "wsgi.errors": io.StringIO(),
            "wsgi.version": (1, 0),
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }
        if way == "upload":
            environ["CONTENT_LENGTH"] = str(n)
        result = app(environ, lambda status, headers, exc_info=None: None)
        total = 0
        body = b""
        try:
            for chunk in result:
                total += len(chunk)
                if way == "upload":
                    body += chunk
        finally:
            getattr(result, "close", lambda: None)()
        return body if way == "upload" else total

    state["size"] = 4 * CHUNK
    transfer(state["size"])  # warm-up (starts the loop thread)
    state["size"] = size
    before = peak_rss_kib()
    cost = KernelCost()
    start = time.perf_counter()
    moved = transfer(size)
    elapsed = time.perf_counter() - start
    cost.stop()
    expected: bytes | int = str(size).encode() if way == "upload" else size
    if moved != expected:
        raise RuntimeError(f"{name} moved {moved!r}, expected {expected!r}")
    return elapsed, peak_rss_kib() - before, cost


def measure_one(direction: str, way: str, name: str, mib: float) -> dict[str, float]:
    os.sched_setaffinity(0, {0})
    size = int(mib * 1024 * 1024)
    run = run_w2a if direction == "w2a" else run_a2w
    elapsed, growth_kib, cost = run(name, way, size)
    return {
        "mb_per_s": size / elapsed / 1e6,
        "rss_growth_mib": growth_kib / 1024,
        "switches_per_64k": (cost.voluntary + cost.involuntary) / (size / CHUNK),
        "involuntary_per_64k": cost.involuntary / (size / CHUNK),
        # CPU time, from the kernel's tick accounting: coarse for a transfer of a
        # few dozen milliseconds, so the runner keeps it in the rounds only.
        "cpu_per_elapsed": (cost.user_s + cost.system_s) / elapsed,
        "sys_share": cost.system_s / (cost.user_s + cost.system_s)
        if cost.user_s + cost.system_s > 0
        else 0.0,
    }


def scenarios() -> list[tuple[str, str, list[str]]]:
    return [("w2a", way, names) for way, names in W2A.items()] + [
        ("a2w", way, names) for way, names in A2W.items()
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--one", nargs=3, metavar=("DIRECTION", "WAY", "NAME"), required=True)
    parser.add_argument("--mib", type=float, default=256)
    args = parser.parse_args()
    direction, way, name = args.one
    print(json.dumps(measure_one(direction, way, name, args.mib)))


if __name__ == "__main__":
    main()
