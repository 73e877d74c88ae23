"""Slow downloads (issue 14, benchmark b): do a thousand slow readers exhaust the pool?

    python -m benchmarks.slow_downloads                      # every server, a few minutes
    python -m benchmarks.slow_downloads bridge native-asgi --clients 200
    python -m benchmarks.slow_downloads --json out.json

Each of ``--clients`` connections (1000) downloads ``GET /download``: 1 MiB
(``--size``) that the app yields in 64 KiB chunks (``--chunk``) with a
Content-Length, and reads it at 64 KiB/s (``--rate``), so one reader alone
needs 16 s. Meanwhile ``GET /hello`` is sent ``--hello-rate`` times a second
(20), each on a new connection, and must be answered within 2 s.

Loopback hides slow readers: Linux gives an accepted socket a send buffer of
several MB, which would swallow the whole response whatever the client reads.
So the benchmark makes the listening socket itself, with ``SO_SNDBUF`` of 16 KiB
(accepted sockets inherit it), and hands it to the server (uvicorn ``--fd``,
gunicorn ``--bind fd://``, waitress ``sockets=``); each client socket gets
``SO_RCVBUF`` of 16 KiB before it connects.

The servers, one at a time, each pinned to CPU 0 (the client runs on CPU 1):

* ``bridge``: a Flask generator through ``bridge.WsgiToAsgi(workers=10)`` on uvicorn;
* ``bridge-pinned``: the same with ``pin_response_thread=True`` (one thread per
  response from start to end, the model of every WSGI-to-ASGI bridge before);
* ``a2wsgi``: through a2wsgi's ``WSGIMiddleware(workers=10)`` on uvicorn;
* ``native-asgi``: an ASGI app yielding the same chunks, natively on uvicorn;
* ``waitress``: Flask natively on waitress (4 threads, ``connection_limit`` 1100).

Reported per server: downloads complete (and how many within 32 s, the goal,
twice what one reader needs), their p50 and slowest completion time, the
``/hello`` share within 2 s and p99, the server's RSS growth over its idle
size (all its processes), and, for the bridge, the busy worker threads over
time (sampled from the loop through ``/_busy``, which takes no worker).
Goal for ``bridge``: all complete within 32 s, ``/hello`` p99 under 100 ms,
RSS growth under 256 MiB. Every loop here is bounded in count and time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.peers import wrap_wsgi
from benchmarks.report import elapsed_log, not_installed, pinned, run_meta
from benchmarks.slow_clients import _raise_fd_limit, percentile

ROOT = Path(__file__).resolve().parent.parent
MODULE = "benchmarks.slow_downloads"
HELLO = b"Hello, world!"
SERVER_CPU = 0
CLIENT_CPU = 1
SNDBUF = 16 * 1024
RCVBUF = 16 * 1024
SIZE = 1024 * 1024
CHUNK = 64 * 1024
GOAL_SECONDS = 32.0
GOAL_P99 = 0.100
GOAL_RSS_MIB = 256.0
CONNECT_TIMEOUT = 10.0
STARTUP_SECONDS = 30.0


# -- the apps (imported by the server process) -----------------------------------------------


def _sizes() -> tuple[int, int]:
    return int(os.environ.get("SLOW_DOWNLOAD_SIZE", SIZE)), int(
        os.environ.get("SLOW_DOWNLOAD_CHUNK", CHUNK)
    )


def _flask() -> Any:
    from flask import Flask, Response

    app = Flask("slow_downloads")
    size, chunk = _sizes()
    block = b"x" * chunk

    @app.get("/hello")
    def hello() -> Response:
        return Response(HELLO, mimetype="text/plain")

    @app.get("/download")
    def download() -> Response:
        def generate() -> Any:
            left = size
            while left > 0:
                part = block[: min(chunk, left)]
                left -= len(part)
                yield part

        return Response(
            generate(), mimetype="application/octet-stream", headers={"Content-Length": str(size)}
        )

    return app


async def _native(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The same two routes as a plain ASGI app (no framework: uvicorn's own cost)."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            kind = message["type"].rpartition(".")[2]
            await send({"type": f"lifespan.{kind}.complete"})
            if kind == "shutdown":
                return
    size, chunk = _sizes()
    if scope["path"] == "/download":
        headers = [
            (b"content-type", b"application/octet-stream"),
            (b"content-length", str(size).encode()),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        block, left = b"x" * chunk, size
        while left > 0:
            part = block[: min(chunk, left)]
            left -= len(part)
            await send({"type": "http.response.body", "body": part, "more_body": left > 0})
        return
    headers = [(b"content-type", b"text/plain"), (b"content-length", b"%d" % len(HELLO))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": HELLO})


class _BusyProbe:
    """Answers ``GET /_busy`` on the loop with the bridge's busy worker count."""

    def __init__(self, bridged: Any) -> None:
        self.bridged = bridged

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == "/_busy":
            pool = getattr(self.bridged, "_executor", None)
            body = b"%d" % (len(pool.busy) if pool is not None else 0)
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-length", b"%d" % len(body))],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        await self.bridged(scope, receive, send)


_cache: dict[str, Any] = {}


def __getattr__(name: str) -> Any:
    """The server targets: ``flask_wsgi``, ``flask_bridge``, ``flask_bridge_pinned``,
    ``flask_a2wsgi``, ``native``."""
    if name in _cache:
        return _cache[name]
    if name == "flask_wsgi":
        app: Any = _flask()
    elif name == "native":
        app = _native
    elif name == "flask_bridge":
        app = _BusyProbe(wrap_wsgi("bridge", _flask(), workers=10))
    elif name == "flask_bridge_pinned":
        app = _BusyProbe(wrap_wsgi("bridge", _flask(), workers=10, pin_response_thread=True))
    elif name == "flask_a2wsgi":
        app = wrap_wsgi("a2wsgi", _flask(), workers=10)
    else:
        raise AttributeError(name)
    _cache[name] = app
    return app


# -- the servers ---------------------------------------------------------------------------

_WAITRESS = (
    "import socket, sys, waitress, importlib; "
    "module, _, attr = sys.argv[1].partition(':'); "
    "app = getattr(importlib.import_module(module), attr); "
    "sock = socket.socket(fileno=int(sys.argv[2])); "
    "waitress.serve(app, sockets=[sock], threads=4, connection_limit=1100, backlog=2048, "
    "_quiet=True)"
)


@dataclass(frozen=True)
class Config:
    name: str
    server: str
    app: str
    needs: tuple[str, ...]
    argv: Callable[[int], list[str]]  # listening fd -> the server's argv after python
    busy_probe: bool = False


def _uvicorn(target: str) -> Callable[[int], list[str]]:
    return lambda fd: [
        "-m",
        "uvicorn",
        f"{MODULE}:{target}",
        "--fd",
        str(fd),
        "--log-level",
        "warning",
        "--no-access-log",
        "--backlog",
        "2048",
    ]


CONFIGS = [
    Config(
        "bridge",
        "uvicorn",
        "Flask through bridge `WsgiToAsgi(workers=10)`",
        ("uvicorn", "flask"),
        _uvicorn("flask_bridge"),
        busy_probe=True,
    ),
    Config(
        "bridge-pinned",
        "uvicorn",
        "Flask through bridge `WsgiToAsgi(workers=10, pin_response_thread=True)`",
        ("uvicorn", "flask"),
        _uvicorn("flask_bridge_pinned"),
        busy_probe=True,
    ),
    Config(
        "a2wsgi",
        "uvicorn",
        "Flask through a2wsgi `WSGIMiddleware(workers=10)`",
        ("uvicorn", "flask", "a2wsgi"),
        _uvicorn("flask_a2wsgi"),
    ),
    Config("native-asgi", "uvicorn", "an ASGI app natively", ("uvicorn",), _uvicorn("native")),
    Config(
        "waitress",
        "waitress (4 threads)",
        "Flask natively",
        ("waitress", "flask"),
        lambda fd: ["-c", _WAITRESS, f"{MODULE}:flask_wsgi", str(fd)],
    ),
]
CONFIG_NAMES = [config.name for config in CONFIGS]


class Server:
    """A server on a listening socket this process made (small ``SO_SNDBUF``)."""

    def __init__(self, config: Config, options: Options, tmp: Path) -> None:
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SNDBUF)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(2048)
        self.port = self.listener.getsockname()[1]
        fd = self.listener.fileno()
        argv = [sys.executable, *config.argv(fd)]
        if (os.cpu_count() or 1) >= 2:
            argv = pinned(argv, SERVER_CPU)
        env = {
            **os.environ,
            "SLOW_DOWNLOAD_SIZE": str(options.size),
            "SLOW_DOWNLOAD_CHUNK": str(options.chunk),
            "PYTHONPATH": str(ROOT),
        }
        self.log = tmp / f"{config.name}.log"
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                argv,
                cwd=ROOT,
                env=env,
                pass_fds=(fd,),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.listener.close()  # the server has its own copy

    def wait_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:  # bounded by STARTUP_SECONDS
            if self.proc.poll() is not None:
                raise RuntimeError(f"exited with {self.proc.returncode}: {self.tail()}")
            with contextlib.suppress(OSError):
                if _get(self.port, "/hello", timeout=2.0)[0] == 200:
                    return
            time.sleep(0.1)
        raise RuntimeError(f"not ready after {STARTUP_SECONDS:g} s: {self.tail()}")

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-400:]

    def rss_mib(self) -> float:
        """The resident memory of the server and its children, MiB (Linux /proc)."""
        total = 0
        for pid in [self.proc.pid, *_children(self.proc.pid)]:
            with contextlib.suppress(OSError):
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        return total / 1024

    def stop(self) -> str:
        """SIGTERM to the process group we started, then SIGKILL after 10 s."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
                return "terminated"
            except subprocess.TimeoutExpired:
                pass
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)
        return "killed"


def _children(pid: int) -> list[int]:
    found = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            text = (task / "children").read_text().split()
            found.extend(int(child) for child in text)
    return found


def _get(port: int, path: str, timeout: float) -> tuple[int, bytes]:
    """A blocking ``GET`` on a fresh connection: (status, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(b"GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % path.encode())
        data = b""
        for _ in range(10_000):  # bounded: a short answer is a few reads
            part = sock.recv(65536)
            if not part:
                break
            data += part
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


# -- the client ----------------------------------------------------------------------------


@dataclass
class Options:
    clients: int = 1000
    size: int = SIZE
    chunk: int = CHUNK
    rate: int = 64 * 1024  # each reader's bytes per second
    hello_rate: float = 20.0
    limit: float = 60.0  # seconds after which unfinished downloads are counted as such


@dataclass
class Download:
    started: float = 0.0
    done: float | None = None
    received: int = 0  # body bytes
    status: int | None = None
    error: str | None = None


@dataclass
class Measurement:
    downloads: list[Download] = field(default_factory=list)
    hellos: list[tuple[float, float | None]] = field(default_factory=list)  # sent, latency
    rss: list[tuple[float, float]] = field(default_factory=list)  # seconds, MiB
    busy: list[tuple[float, int]] = field(default_factory=list)  # seconds, busy workers
    idle_rss: float = 0.0


async def _download(port: int, item: Download, options: Options, deadline: float) -> None:
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
    sock.setblocking(False)
    tick = 0.1
    allowance = options.rate * tick
    try:
        item.started = loop.time()
        await asyncio.wait_for(loop.sock_connect(sock, ("127.0.0.1", port)), CONNECT_TIMEOUT)
        await loop.sock_sendall(sock, b"GET /download HTTP/1.1\r\nHost: x\r\n\r\n")
        head = b""
        budget = 0.0
        next_tick = loop.time()
        while loop.time() < deadline:  # bounded by the run's limit
            budget = min(budget + allowance, 2 * allowance)
            while budget >= 1:
                try:
                    data = sock.recv(int(budget))
                except BlockingIOError:
                    break
                if not data:
                    item.error = item.error or "closed early"
                    return
                budget -= len(data)
                if item.status is None:
                    head += data
                    if b"\r\n\r\n" not in head:
                        continue
                    head, _, data = head.partition(b"\r\n\r\n")
                    item.status = int(head.split()[1])
                item.received += len(data)
                if item.received >= options.size:
                    item.done = loop.time() - item.started
                    return
            next_tick += tick
            await asyncio.sleep(max(0.0, next_tick - loop.time()))
    except (OSError, asyncio.TimeoutError, ValueError, IndexError) as exc:
        item.error = f"{type(exc).__name__}: {exc}"[:100]
    finally:
        sock.close()


async def _hello(port: int, sent: float, out: list[tuple[float, float | None]]) -> None:
    loop = asyncio.get_running_loop()
    latency: float | None = None
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port), CONNECT_TIMEOUT
        )
        try:
            writer.write(b"GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            data = await asyncio.wait_for(reader.read(), CONNECT_TIMEOUT)
            if data.startswith(b"HTTP/1.1 200") and data.endswith(HELLO):
                latency = loop.time() - sent
        finally:
            writer.close()
    except (OSError, asyncio.TimeoutError):
        pass
    out.append((sent, latency))


async def _probe_busy(port: int) -> int | None:
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 2)
        try:
            writer.write(b"GET /_busy HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            data = await asyncio.wait_for(reader.read(), 2)
        finally:
            writer.close()
        return int(data.partition(b"\r\n\r\n")[2])
    except (OSError, asyncio.TimeoutError, ValueError):
        return None


async def measure(server: Server, config: Config, options: Options) -> Measurement:
    loop = asyncio.get_running_loop()
    found = Measurement(downloads=[Download() for _ in range(options.clients)])
    found.idle_rss = server.rss_mib()
    start = loop.time()
    deadline = start + options.limit
    downloads = [
        asyncio.create_task(_download(server.port, d, options, deadline)) for d in found.downloads
    ]
    hello_tasks: list[asyncio.Task[None]] = []
    sample_every = 0.5
    samples = int(options.limit / sample_every) + 1
    hello_every = 1.0 / options.hello_rate
    next_hello = start + 1.0  # once the connections are open
    for index in range(samples):  # bounded by the limit
        at = start + index * sample_every
        while next_hello < min(at, deadline):
            hello_tasks.append(asyncio.create_task(_hello(server.port, loop.time(), found.hellos)))
            next_hello += hello_every
        await asyncio.sleep(max(0.0, at - loop.time()))
        found.rss.append((round(at - start, 2), server.rss_mib()))
        if config.busy_probe:
            busy = await _probe_busy(server.port)
            if busy is not None:
                found.busy.append((round(at - start, 2), busy))
        if all(task.done() for task in downloads):
            break
    await asyncio.wait(downloads, timeout=max(0.0, deadline - loop.time()) + 1)
    if hello_tasks:
        await asyncio.wait(hello_tasks, timeout=CONNECT_TIMEOUT * 2 + 1)
    for task in [*downloads, *hello_tasks]:
        task.cancel()
    await asyncio.gather(*downloads, *hello_tasks, return_exceptions=True)
    return found


# -- figures -------------------------------------------------------------------------------


def summarise(found: Measurement, options: Options) -> dict[str, Any]:
    done = [d.done for d in found.downloads if d.done is not None]
    errors = sorted({d.error for d in found.downloads if d.error})
    latencies = [lat if lat is not None else float("inf") for _, lat in found.hellos]
    within = [lat for lat in latencies if lat <= 2.0]
    peak_rss = max((mib for _, mib in found.rss), default=found.idle_rss)
    busy = [count for _, count in found.busy]
    return {
        "downloads": {
            "clients": options.clients,
            "complete": len(done),
            "within_goal": sum(1 for t in done if t <= GOAL_SECONDS),
            "p50_s": round(percentile(done, 0.5), 2) if done else None,
            "max_s": round(max(done), 2) if done else None,
            "errors": errors[:3],
        },
        "hello": {
            "sent": len(found.hellos),
            "within_share": len(within) / len(latencies) if latencies else 0.0,
            "p99_s": (
                None
                if not latencies or percentile(latencies, 0.99) == float("inf")
                else round(percentile(latencies, 0.99), 4)
            ),
        },
        "rss": {
            "idle_mib": round(found.idle_rss, 1),
            "growth_mib": round(peak_rss - found.idle_rss, 1),
        },
        "busy": {
            "max": max(busy) if busy else None,
            "mean": round(sum(busy) / len(busy), 2) if busy else None,
            "samples": found.busy,
        },
        "rss_samples": found.rss,
    }


def meets_goal(summary: dict[str, Any]) -> bool:
    downloads, hello = summary["downloads"], summary["hello"]
    p99 = hello["p99_s"]
    return (
        downloads["within_goal"] == downloads["clients"]
        and p99 is not None
        and p99 < GOAL_P99
        and summary["rss"]["growth_mib"] < GOAL_RSS_MIB
    )


def _warm_up(port: int, options: Options) -> None:
    for _ in range(10):
        _get(port, "/hello", timeout=10)
    status, body = _get(port, "/download", timeout=30)
    if status != 200 or len(body) != options.size:
        raise RuntimeError(f"/download answered {status} with {len(body)} bytes")


def run_config(config: Config, options: Options, log: Callable[[str], None]) -> dict[str, Any]:
    result: dict[str, Any] = {
        "name": config.name,
        "server": config.server,
        "app": config.app,
        "skipped": None,
        "failed": None,
    }
    reason = not_installed(*config.needs)
    if reason:
        log(f"{config.name}: skipped: {reason}")
        return {**result, "skipped": reason}
    with tempfile.TemporaryDirectory(prefix="slow-downloads-") as tmp:
        server = Server(config, options, Path(tmp))
        try:
            server.wait_ready()
            _warm_up(server.port, options)
            found = asyncio.run(measure(server, config, options))
            result.update(summarise(found, options))
            result["goal_met"] = meets_goal(result)
        except RuntimeError as exc:
            log(f"{config.name}: failed: {exc}")
            result["failed"] = str(exc).splitlines()[0][:200]
        finally:
            result["stopped"] = server.stop()
    return result


def _cell(value: Any, unit: str = "") -> str:
    return "—" if value is None else f"{value}{unit}"


def markdown(results: list[dict[str, Any]], options: Options) -> str:
    header = (
        "| server | app | complete (within 32 s) | p50 / slowest | `/hello` within 2 s "
        "| `/hello` p99 | RSS growth | busy workers (max / mean) | goal |"
    )
    lines = [header, "|" + "---|" * header.count(" | ") + "---|"]
    for r in results:
        if r.get("skipped") or r.get("failed"):
            why = r.get("skipped") or f"failed: {r.get('failed')}"
            lines.append(f"| {r['server']} | {r['app']} | {why} |||||||")
            continue
        d, h, busy = r["downloads"], r["hello"], r["busy"]
        p99 = h["p99_s"]
        lines.append(
            f"| {r['server']} | {r['app']} | {d['complete']} of {d['clients']} "
            f"({d['within_goal']}) | {_cell(d['p50_s'], ' s')} / {_cell(d['max_s'], ' s')} "
            f"| {h['within_share'] * 100:.1f}% "
            f"| {'no answer' if p99 is None else f'{p99 * 1000:.1f} ms'} "
            f"| {r['rss']['growth_mib']:.0f} MiB "
            f"| {_cell(busy['max'])} / {_cell(busy['mean'])} "
            f"| {'met' if r['goal_met'] else '**not met**'} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.slow_downloads", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("configs", nargs="*", metavar="SERVER", help=", ".join(CONFIG_NAMES))
    parser.add_argument("--clients", type=int, default=1000, help="slow downloads (1000)")
    parser.add_argument("--size", type=int, default=SIZE, help="bytes per download (1 MiB)")
    parser.add_argument("--chunk", type=int, default=CHUNK, help="bytes per yield (64 KiB)")
    parser.add_argument("--rate", type=int, default=64 * 1024, help="bytes/s per reader")
    parser.add_argument("--hello-rate", type=float, default=20.0, help="/hello per second")
    parser.add_argument("--limit", type=float, default=60.0, help="seconds per server (60)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.configs) - set(CONFIG_NAMES))
    if unknown:
        parser.error(f"unknown servers {unknown}; known: {', '.join(CONFIG_NAMES)}")
    if min(args.clients, args.size, args.chunk, args.rate, args.hello_rate, args.limit) <= 0:
        parser.error("every number must be positive")
    options = Options(args.clients, args.size, args.chunk, args.rate, args.hello_rate, args.limit)
    fd_limit = _raise_fd_limit(options.clients * 2 + int(options.hello_rate * options.limit) + 512)
    if (os.cpu_count() or 1) >= 2:
        os.sched_setaffinity(0, {CLIENT_CPU})
    started = time.monotonic()

    log = elapsed_log(started)

    results = []
    for config in [c for c in CONFIGS if not args.configs or c.name in args.configs]:
        log(f"{config.name}: {options.clients} downloads ...")
        result = run_config(config, options, log)
        if result.get("downloads"):
            d = result["downloads"]
            log(
                f"{config.name}: {d['complete']} of {d['clients']} complete, slowest "
                f"{d['max_s']} s, /hello p99 {result['hello']['p99_s']}, RSS +"
                f"{result['rss']['growth_mib']} MiB, busy max {result['busy']['max']}"
            )
        results.append(result)
    meta = run_meta(
        MODULE, argv, started, "wsgi-asgi-bridge", "a2wsgi", "flask", "uvicorn", "uvloop",
        "httptools", "waitress",
    )  # fmt: skip
    meta.update(options=options.__dict__, fd_limit=list(fd_limit))
    if args.json is not None:
        args.json.write_text(json.dumps({"meta": meta, "results": results}, indent=1) + "\n")
    print(markdown(results, options))
    versions = ", ".join(f"{name} {version}" for name, version in meta["versions"].items())
    print(
        f"{options.clients} downloads of {options.size} bytes in {options.chunk}-byte chunks, "
        f"each read at {options.rate} B/s; server SO_SNDBUF {SNDBUF}, client SO_RCVBUF "
        f"{RCVBUF}. Goal: all within {GOAL_SECONDS:g} s, /hello p99 under "
        f"{GOAL_P99 * 1000:.0f} ms, RSS growth under {GOAL_RSS_MIB:.0f} MiB. {meta['date']}, "
        f"Python {meta['python']}, {versions}."
    )
    failed = [r["name"] for r in results if r.get("failed")]
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
