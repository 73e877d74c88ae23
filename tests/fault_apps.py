"""Apps the fault and soak tests serve in a server process (see test_faults_servers.py).

One WSGI app and one ASGI app with the same routes, and the bridged objects the
servers load:

``on_uvicorn``          the WSGI app through ``WsgiToAsgi`` (``BRIDGE_WORKERS`` threads)
``on_wsgi``             the ASGI app through ``AsgiToWsgi``
``nested_on_wsgi``      ``AsgiToWsgi(WsgiToAsgi(wsgi_app, workers=1))``
``nested_on_uvicorn``   ``WsgiToAsgi(AsgiToWsgi(asgi_app), workers=1)``

Routes: ``/hello``, ``/echo`` (sha256 of the body), ``/stream?size=N``
(:func:`fault_client.payload`), ``/endless``, ``/compute?seconds=S`` (works S
seconds before answering), ``/slowstream`` (works between chunks),
``/error?stage=...``, ``/gate?n=N`` (answers once N requests are in the app at
the same time: proof that N workers are free), ``/sleep?ms=M`` and ``/diag``.

``/diag`` is measured inside the server process: ``threading.active_count()``,
the tasks on the event loop that serves it (the bridge's loop for AsgiToWsgi,
the server's for WsgiToAsgi; itself excluded), ``/proc/self/fd`` entries, RSS
from ``/proc/self/statm``, and the apps' counters (requests in the app, the
most at once, WSGI iterables not yet closed, closes, cancellations, ...).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
import time
import tracemalloc
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from fault_client import payload

from bridge import AsgiToWsgi, ClientDisconnected, WsgiToAsgi

CHUNK = 65536
WORKERS = int(os.environ.get("BRIDGE_WORKERS", "4"))
PAGE = os.sysconf("SC_PAGE_SIZE")
MARKERS = Path(os.environ.get("MARKER_DIR", "."))


def mark(name: str) -> None:
    """Leave a file the test can see after this process is gone."""
    (MARKERS / f"{name}.{os.getpid()}.{uuid.uuid4().hex}").write_text(name)


class Stats:
    """Counters shared by every request of this process."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self.active = 0
        self.max_active = 0
        self.open_iterables = 0

    def add(self, key: str, n: int = 1) -> None:
        with self.lock:
            self.counts[key] += n

    def enter(self) -> None:
        with self.lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)

    def leave(self) -> None:
        with self.lock:
            self.active -= 1

    def snapshot(self, tasks: int) -> dict[str, Any]:
        with open("/proc/self/statm") as statm:
            rss = int(statm.read().split()[1]) * PAGE
        with self.lock:
            return {
                "pid": os.getpid(),
                "threads": threading.active_count(),
                "tasks": tasks,
                "fds": len(os.listdir("/proc/self/fd")),
                "rss": rss,
                "blocks": sys.getallocatedblocks(),
                "traced": tracemalloc.get_traced_memory()[0] if tracemalloc.is_tracing() else -1,
                "active": self.active,
                "max_active": self.max_active,
                "open_iterables": self.open_iterables,
                **self.counts,
            }

    def reset_max(self) -> None:
        with self.lock:
            self.max_active = self.active


STATS = Stats()


def query(environ_or_scope: str | bytes) -> dict[str, str]:
    text = environ_or_scope.decode() if isinstance(environ_or_scope, bytes) else environ_or_scope
    return {k: v[0] for k, v in parse_qs(text).items()}


def json_bytes(data: dict[str, Any]) -> bytes:
    return json.dumps(data).encode()


def stream_chunks(size: int) -> Iterator[bytes]:
    sent = 0
    while sent < size:
        part = payload(min(CHUNK, size - sent), sent)
        sent += len(part)
        yield part


# -- the WSGI app ------------------------------------------------------------------------
class Tracked:
    """The response iterable: counts itself open until ``close()``, which may fail on purpose."""

    def __init__(self, chunks: Iterable[bytes], *, fail_close: bool = False) -> None:
        self.chunks = iter(chunks)
        self.fail_close = fail_close
        self.exhausted = False
        self.closed = False
        with STATS.lock:
            STATS.open_iterables += 1

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        try:
            return next(self.chunks)
        except StopIteration:
            self.exhausted = True
            raise

    def close(self) -> None:
        if self.closed:
            STATS.add("closed_twice")
            return
        self.closed = True
        close = getattr(self.chunks, "close", None)
        if close is not None:
            close()
        with STATS.lock:
            STATS.open_iterables -= 1
            STATS.counts["closed"] += 1
            if not self.exhausted:
                STATS.counts["closed_early"] += 1
        STATS.leave()
        if self.fail_close:
            raise RuntimeError("close() failed on purpose")


_gates: dict[int, threading.Barrier] = {}
_gates_lock = threading.Lock()

Start = Callable[..., Any]
TEXT = [("Content-Type", "text/plain")]


def wsgi_app(environ: dict[str, Any], start_response: Start) -> Iterable[bytes]:
    path = environ["PATH_INFO"]
    if path == "/diag":
        body = json_bytes(STATS.snapshot(-1))
        start_response("200 OK", [("Content-Type", "application/json")])
        return [body]
    if path == "/reset":
        STATS.reset_max()
        start_response("200 OK", TEXT)
        return [b"reset"]
    STATS.enter()
    try:
        return _wsgi_route(path, query(environ.get("QUERY_STRING", "")), environ, start_response)
    except BaseException:
        STATS.leave()  # no iterable was returned: nothing else will
        raise


def _wsgi_route(
    path: str, args: dict[str, str], environ: dict[str, Any], start_response: Start
) -> Iterable[bytes]:
    if path == "/hello":
        start_response("200 OK", TEXT)
        return Tracked([b"hello"])
    if path == "/echo":
        stream = environ["wsgi.input"]
        digest, length = _hash_stream(stream)
        start_response("200 OK", [("Content-Type", "application/json")])
        return Tracked([json_bytes({"length": length, "sha256": digest})])
    if path == "/stream":
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return Tracked(stream_chunks(int(args["size"])))
    if path == "/endless":
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return Tracked(_endless())
    if path == "/compute":
        STATS.add("computing")
        time.sleep(float(args.get("seconds", "1")))  # the app is busy; no I/O to notice a cut
        STATS.add("computed")
        start_response("200 OK", TEXT)
        return Tracked([b"computed"])
    if path == "/slowstream":
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return Tracked(_slow_chunks())
    if path == "/error":
        return _wsgi_error(args["stage"], start_response)
    if path == "/gate":
        n = int(args["n"])
        with _gates_lock:
            gate = _gates.setdefault(n, threading.Barrier(n))
        try:
            gate.wait(timeout=20)
        except threading.BrokenBarrierError:
            gate.reset()
            start_response("503 Service Unavailable", TEXT)
            return Tracked([b"gate timed out"])
        start_response("200 OK", TEXT)
        return Tracked([b"gate %d" % n])
    if path == "/sleep":
        time.sleep(int(args["ms"]) / 1000)
        start_response("200 OK", TEXT)
        return Tracked([b"slept"])
    start_response("404 Not Found", TEXT)
    return Tracked([b"not found"])


def _hash_stream(stream: Any) -> tuple[str, int]:
    import hashlib

    hasher = hashlib.sha256()
    length = 0
    try:
        while data := stream.read(CHUNK):
            hasher.update(data)
            length += len(data)
    except OSError:
        STATS.add("upload_aborted")
        raise
    return hasher.hexdigest(), length


def _endless() -> Iterator[bytes]:
    block = payload(CHUNK)
    while True:
        yield block


def _slow_chunks() -> Iterator[bytes]:
    block = payload(CHUNK)
    try:
        yield block
        for _ in range(300):
            STATS.add("slow_computing")
            time.sleep(0.1)
            yield block
    finally:
        mark("slow-ended")


def _wsgi_error(stage: str, start_response: Start) -> Iterable[bytes]:
    if stage == "before":
        raise RuntimeError("failed before start_response")
    start_response("200 OK", TEXT)
    if stage == "after_start":
        raise RuntimeError("failed after start_response")
    if stage == "mid_body":

        def chunks() -> Iterator[bytes]:
            yield payload(CHUNK)
            raise RuntimeError("failed mid-body")

        return Tracked(chunks())
    if stage == "close":
        return Tracked(iter([b"body before a failing close"]), fail_close=True)
    raise ValueError(stage)


# -- the ASGI app ------------------------------------------------------------------------
Scope = dict[str, Any]
Receive = Callable[[], Any]
Send = Callable[[dict[str, Any]], Any]
ASGI_TEXT = [(b"content-type", b"text/plain")]


class AsyncGate:
    """Opens when ``n`` requests wait on it at once (asyncio.Barrier is 3.11+)."""

    def __init__(self) -> None:
        self.waiting = 0
        self.event: asyncio.Event | None = None

    async def wait(self, n: int, timeout: float) -> bool:
        if self.event is None:
            self.event = asyncio.Event()
        event = self.event
        self.waiting += 1
        if self.waiting >= n:
            event.set()
            self.event, self.waiting = None, 0
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except asyncio.TimeoutError:
            self.event, self.waiting = None, 0
            return False
        return True


_async_gates: dict[int, AsyncGate] = {}


async def send_all(send: Send, status: int, body: bytes, headers: Any = None) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers or ASGI_TEXT})
    await send({"type": "http.response.body", "body": body})


async def asgi_app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    assert scope["type"] == "http"
    path = scope["path"]
    if path == "/diag":
        tasks = len(asyncio.all_tasks()) - 1
        await send_all(send, 200, json_bytes(STATS.snapshot(tasks)))
        return
    if path == "/reset":
        STATS.reset_max()
        await send_all(send, 200, b"reset")
        return
    STATS.enter()
    try:
        await _asgi_route(path, query(scope["query_string"]), receive, send)
    except asyncio.CancelledError:
        STATS.add("cancelled")
        raise
    except ClientDisconnected:
        STATS.add("send_disconnected")
        raise
    finally:
        STATS.leave()


async def _asgi_route(path: str, args: dict[str, str], receive: Receive, send: Send) -> None:
    if path == "/hello":
        await send_all(send, 200, b"hello")
    elif path == "/echo":
        import hashlib

        hasher = hashlib.sha256()
        length = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                STATS.add("upload_aborted")
                return  # nobody to answer
            hasher.update(message.get("body", b""))
            length += len(message.get("body", b""))
            if not message.get("more_body"):
                break
        await send_all(send, 200, json_bytes({"length": length, "sha256": hasher.hexdigest()}))
    elif path in ("/stream", "/endless", "/slowstream"):
        await send({"type": "http.response.start", "status": 200, "headers": ASGI_TEXT})
        if path == "/stream":
            for chunk in stream_chunks(int(args["size"])):
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        else:
            block = payload(CHUNK)
            try:
                for _ in range(10**9 if path == "/endless" else 300):
                    await send({"type": "http.response.body", "body": block, "more_body": True})
                    if path == "/slowstream":
                        STATS.add("slow_computing")
                        await asyncio.sleep(0.1)
            finally:
                if path == "/slowstream":
                    mark("slow-ended")
        await send({"type": "http.response.body", "body": b""})
    elif path == "/compute":
        STATS.add("computing")
        await asyncio.sleep(float(args.get("seconds", "1")))
        STATS.add("computed")
        await send_all(send, 200, b"computed")
    elif path == "/error":
        stage = args["stage"]
        if stage == "before":
            raise RuntimeError("failed before http.response.start")
        await send({"type": "http.response.start", "status": 200, "headers": ASGI_TEXT})
        if stage == "after_start":
            raise RuntimeError("failed after http.response.start")
        await send({"type": "http.response.body", "body": payload(CHUNK), "more_body": True})
        raise RuntimeError("failed mid-body")
    elif path == "/gate":
        n = int(args["n"])
        gate = _async_gates.setdefault(n, AsyncGate())
        if await gate.wait(n, 20):
            await send_all(send, 200, b"gate %d" % n)
        else:
            await send_all(send, 503, b"gate timed out")
    elif path == "/sleep":
        await asyncio.sleep(int(args["ms"]) / 1000)
        await send_all(send, 200, b"slept")
    else:
        await send_all(send, 404, b"not found")


# -- what the servers load -------------------------------------------------------------
def with_diag(app: Callable[..., Any]) -> Callable[..., Any]:
    """Answer ``/diag`` on the loop that serves ``app`` (its task set is the one measured)."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == "/diag":
            tasks = len(asyncio.all_tasks()) - 1
            await send_all(send, 200, json_bytes(STATS.snapshot(tasks)))
            return
        await app(scope, receive, send)

    return wrapped


on_uvicorn = with_diag(WsgiToAsgi(wsgi_app, workers=WORKERS))
on_wsgi = AsgiToWsgi(asgi_app)
nested_on_wsgi = AsgiToWsgi(with_diag(WsgiToAsgi(wsgi_app, workers=1)))
nested_on_uvicorn = with_diag(WsgiToAsgi(AsgiToWsgi(asgi_app), workers=1))
