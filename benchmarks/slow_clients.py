"""Slow uploads (issue 14, benchmark a): does a ``/hello`` still get through?

    python -m benchmarks.slow_clients                       # all five servers, about 100 s
    python -m benchmarks.slow_clients bridge waitress --uploaders 100 --duration 10
    python -m benchmarks.slow_clients --json out.json

The same Flask app (``GET /hello``, and ``POST /upload``, which reads its whole
body) is served, one server at a time, by:

* ``bridge``: ``bridge.WsgiToAsgi`` (default ``workers=10``, default
  ``preread_size``) on uvicorn;
* ``bridge-lazy``: the same with ``preread_size=0``, the bridge before
  pre-reading: every body is read by the app's thread as the app reads;
* ``a2wsgi``: a2wsgi's ``WSGIMiddleware`` (its default ``workers=10``) on uvicorn;
* ``waitress``: Flask natively on waitress (``--threads=4``, its default, and
  ``--connection-limit=1000`` so that it accepts every connection);
* ``gthread``: Flask natively on gunicorn (``-w 1 -k gthread --threads 10``).

Each server is started by tests/servers.py on a free 127.0.0.1 port, pinned to
CPU 0 (this process, the client, runs on CPU 1), and stopped by its PID. Then:

1. ``--uploaders`` connections (100) each send ``POST /upload`` headers with
   ``Content-Length: 100000`` (``--length``; under the bridge's default
   ``preread_size`` of 256 KiB, so the bridge receives such a body on its
   event loop before it takes a worker thread) and trickle the body at one
   byte per second, spread evenly over each second. After ``--settle`` seconds (1) the server has
   dispatched them all.
2. Meanwhile ``GET /hello`` requests are sent at a fixed rate (``--rate``, 100
   per second) for ``--duration`` seconds (10), open loop: each at its
   scheduled time, on an idle keep-alive connection if there is one, else on a
   new connection. A closed-loop client would stop sending when the server
   stops answering, and count a starved server's four or five stuck requests
   instead of the hundreds it failed to answer. A request's latency runs from
   when it is sent (connecting included) to the end of its response.
3. When every ``/hello`` has had ``--within`` seconds (2) under the attack, the
   uploads are closed; answers that come after that (up to ``--grace`` s, 2)
   are counted as late, the rest as unanswered.

The table gives the share of ``/hello`` requests answered (200) within
``--within`` seconds, their p50 and p99 latency (an unanswered request counts
as an infinite latency), and how many uploads were still open at the end (an
upload the server answered early or closed would no longer load it). The
issue's goal, for the bridge with its default ``workers``: at least 99% within
2 s and p99 under 100 ms. Every loop here is bounded in count and time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import random
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.peers import wrap_wsgi
from benchmarks.report import elapsed_log, not_installed, pinned_command, run_meta

ROOT = Path(__file__).resolve().parent.parent
MODULE = "benchmarks.slow_clients"
HELLO = b"Hello, world!"
UPLOAD_LENGTH = 100_000
SERVER_CPU = 0
CLIENT_CPU = 1
# A keep-alive connection idle for longer than this is closed, not reused: below
# every server's own keep-alive timeout (gunicorn's is 2 s), so a reused
# connection is never one the server is closing at that moment.
IDLE_REUSE = 1.0
CONNECT_TIMEOUT = 5.0
GOAL_SHARE = 0.99
GOAL_P99 = 0.100


# -- the app (imported by the server process) ----------------------------------------------


def _flask() -> Any:
    from flask import Flask, Response, request

    app = Flask("slow_clients")

    @app.get("/hello")
    def hello() -> Response:
        return Response(HELLO, mimetype="text/plain")

    @app.post("/upload")
    def upload() -> Response:
        return Response(b"%d" % len(request.get_data()), mimetype="text/plain")

    return app


_cache: dict[str, Any] = {}


def __getattr__(name: str) -> Any:
    """The server targets: ``flask_wsgi``, ``flask_bridge``, ``flask_bridge_lazy``,
    ``flask_a2wsgi``."""
    if name in _cache:
        return _cache[name]
    if name == "flask_wsgi":
        app = _flask()
    elif name == "flask_bridge_lazy":
        app = wrap_wsgi("bridge", _flask(), preread_size=0)
    elif name in ("flask_bridge", "flask_a2wsgi"):
        app = wrap_wsgi(name.partition("_")[2], _flask())
    else:
        raise AttributeError(name)
    _cache[name] = app
    return app


# -- the servers ---------------------------------------------------------------------------


def _servers() -> Any:
    """tests/servers.py: the launchers and ServerProcess the real-server tests use."""
    tests = str(ROOT / "tests")
    if tests not in sys.path:
        sys.path.insert(0, tests)
    import servers

    return servers


@dataclass(frozen=True)
class Config:
    name: str
    server: str  # as the table names it
    app: str  # what the app runs through, as the table names it
    needs: tuple[str, ...]  # modules it needs
    command: Callable[[Any], Any]  # servers module -> Command


CONFIGS = [
    Config("bridge", "uvicorn", "bridge `WsgiToAsgi` (defaults)", ("uvicorn", "flask"),
           lambda s: s.uvicorn(f"{MODULE}:flask_bridge", "--host", "127.0.0.1")),
    Config("a2wsgi", "uvicorn", "a2wsgi `WSGIMiddleware` (defaults)",
           ("uvicorn", "flask", "a2wsgi"),
           lambda s: s.uvicorn(f"{MODULE}:flask_a2wsgi", "--host", "127.0.0.1")),
    Config("waitress", "waitress (4 threads)", "Flask natively", ("waitress", "flask"),
           lambda s: s.waitress(f"{MODULE}:flask_wsgi", "--threads=4",
                                "--connection-limit=1000")),
    Config("gthread", "gunicorn gthread (1 worker, 10 threads)", "Flask natively",
           ("gunicorn", "flask"),
           lambda s: s.gunicorn(f"{MODULE}:flask_wsgi", "-w", "1", "-k", "gthread",
                                "--threads", "10")),
    Config("bridge-lazy", "uvicorn", "bridge `WsgiToAsgi(preread_size=0)`", ("uvicorn", "flask"),
           lambda s: s.uvicorn(f"{MODULE}:flask_bridge_lazy", "--host", "127.0.0.1")),
]  # fmt: skip
CONFIG_NAMES = [config.name for config in CONFIGS]



# -- the client ----------------------------------------------------------------------------


@dataclass
class Hello:
    """One ``GET /hello``: times are ``loop.time()`` values."""

    sent: float
    done: float | None = None
    status: int | None = None
    error: str | None = None
    new_connection: bool = False

    @property
    def latency(self) -> float | None:
        return None if self.done is None else self.done - self.sent


@dataclass
class Upload:
    connected: bool = False
    length: int = UPLOAD_LENGTH  # the declared Content-Length
    trickled: int = 0  # body bytes sent after the headers
    answer: bytes | None = None  # the first bytes the server sent back, if any
    closed_by_server: bool = False  # before the client closed it
    closing: bool = False  # the client closed it (then an EOF is its own)
    writer: asyncio.StreamWriter | None = None
    watch: asyncio.Task[None] | None = None


class _Pool:
    """Idle keep-alive connections to the server, most recently used first."""

    def __init__(self) -> None:
        self.idle: list[tuple[float, asyncio.StreamReader, asyncio.StreamWriter]] = []
        self.opened = 0
        self.open_now = 0
        self.most_open = 0

    def take(self, now: float) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        while self.idle:
            used, reader, writer = self.idle.pop()
            if now - used <= IDLE_REUSE and not writer.is_closing():
                return reader, writer
            self.discard(writer)
        return None

    def give(self, now: float, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.idle.append((now, reader, writer))

    def counted(self) -> None:
        self.opened += 1
        self.open_now += 1
        self.most_open = max(self.most_open, self.open_now)

    def discard(self, writer: asyncio.StreamWriter) -> None:
        self.open_now -= 1
        writer.close()

    def close(self) -> None:
        for _, _, writer in self.idle:
            self.discard(writer)
        self.idle.clear()


async def _response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """Read one response whose body has a Content-Length: (status, keep-alive)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    length = 0
    keep = lines[0].startswith(b"HTTP/1.1")
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"connection":
            keep = value.strip().lower() != b"close"
    if length:
        await reader.readexactly(length)
    return status, keep


async def _hello(port: int, pool: _Pool, item: Hello, request: bytes) -> None:
    loop = asyncio.get_running_loop()
    conn = pool.take(item.sent)
    for attempt in range(2):  # a reused connection the server had closed: once more, fresh
        writer: asyncio.StreamWriter | None = None
        fresh = conn is None
        try:
            if conn is None:
                item.new_connection = True
                conn = await asyncio.wait_for(
                    asyncio.open_connection("127.0.0.1", port), CONNECT_TIMEOUT
                )
                pool.counted()
            reader, writer = conn
            writer.write(request)
            item.status, keep = await _response(reader)
            item.done = loop.time()
            if keep:
                pool.give(item.done, reader, writer)
            else:
                pool.discard(writer)
            return
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                ValueError, IndexError, asyncio.TimeoutError) as exc:  # fmt: skip
            if writer is not None:
                pool.discard(writer)
            retry = not fresh and attempt == 0
            incomplete = isinstance(exc, asyncio.IncompleteReadError) and not exc.partial
            if retry and (incomplete or isinstance(exc, ConnectionError)):
                conn = None
                continue
            item.error = f"{type(exc).__name__}: {exc}"[:120]
            return
        except asyncio.CancelledError:
            if writer is not None:
                pool.discard(writer)
            raise


async def _watch(upload: Upload, reader: asyncio.StreamReader) -> None:
    """Note what the server sends on an upload's connection (nothing, normally) and its EOF."""
    for _ in range(1000):  # bounded: an answer is a few reads at most
        try:
            data = await reader.read(4096)
        except OSError:
            data = b""
        if upload.closing:
            return
        if not data:
            upload.closed_by_server = True
            return
        if upload.answer is None:
            upload.answer = data[:80]


async def _open_upload(port: int, upload: Upload, head: bytes) -> None:
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port), CONNECT_TIMEOUT
        )
    except (OSError, asyncio.TimeoutError):
        return
    upload.writer = writer
    writer.write(head)
    try:
        await asyncio.wait_for(writer.drain(), CONNECT_TIMEOUT)
    except (OSError, asyncio.TimeoutError):
        return
    upload.connected = True
    upload.watch = asyncio.create_task(_watch(upload, reader))


async def _trickle(uploads: list[Upload], stop: asyncio.Event, seconds: float) -> None:
    """One byte a second to each upload, the uploads spread evenly over each second."""
    loop = asyncio.get_running_loop()
    step = 1.0 / max(len(uploads), 1)
    start = loop.time()
    for tick in range(int(seconds * len(uploads)) + 1):  # bounded by the run's length
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), max(0.0, start + tick * step - loop.time()))
        if stop.is_set():
            return
        upload = uploads[tick % len(uploads)]
        writer = upload.writer
        if (
            not upload.connected
            or writer is None
            or writer.is_closing()
            or upload.closed_by_server
            or upload.trickled >= upload.length
        ):
            continue
        writer.write(b"x")
        upload.trickled += 1


@dataclass
class Options:
    uploaders: int = 100
    duration: float = 10.0
    rate: float = 100.0
    within: float = 2.0
    settle: float = 1.0
    grace: float = 2.0
    length: int = UPLOAD_LENGTH
    expect_continue: bool = False


@dataclass
class Measurement:
    hellos: list[Hello] = field(default_factory=list)
    uploads: list[Upload] = field(default_factory=list)
    load_start: float = 0.0
    uploads_closed: float = 0.0
    lag: list[float] = field(default_factory=list)  # how late each /hello left, s
    connections_opened: int = 0
    most_open: int = 0


async def measure(port: int, options: Options) -> Measurement:
    loop = asyncio.get_running_loop()
    host = f"127.0.0.1:{port}".encode()
    hello = b"GET /hello HTTP/1.1\r\nHost: " + host + b"\r\n\r\n"
    head = (
        b"POST /upload HTTP/1.1\r\nHost: " + host + b"\r\n"
        b"Content-Type: application/octet-stream\r\n"
        + (b"Expect: 100-continue\r\n" if options.expect_continue else b"")
        + b"Content-Length: %d\r\n\r\n" % options.length
    )
    result = Measurement(uploads=[Upload(length=options.length) for _ in range(options.uploaders)])
    pool = _Pool()
    stop = asyncio.Event()
    tasks: list[asyncio.Task[None]] = []
    trickle: asyncio.Task[None] | None = None
    try:
        await asyncio.gather(*(_open_upload(port, u, head) for u in result.uploads))
        longest = options.settle + options.duration + options.within + 1.0
        trickle = asyncio.create_task(_trickle(result.uploads, stop, longest))
        await asyncio.sleep(options.settle)

        count = int(options.rate * options.duration)
        result.load_start = start = loop.time()
        for i in range(count):
            at = start + i / options.rate
            delay = at - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            now = loop.time()
            result.lag.append(now - at)
            item = Hello(sent=now)
            result.hellos.append(item)
            tasks.append(asyncio.create_task(_hello(port, pool, item, hello)))
        # Every request gets its `within` seconds while the uploads still trickle.
        pending = {task for task in tasks if not task.done()}
        if pending:
            wait = result.hellos[-1].sent + options.within + 0.05 - loop.time()
            _, pending = await asyncio.wait(pending, timeout=max(0.0, wait))
        stop.set()
        for upload in result.uploads:
            upload.closing = True
            if upload.writer is not None:
                upload.writer.close()
        result.uploads_closed = loop.time()
        if pending:
            await asyncio.wait(pending, timeout=options.grace)
    finally:
        stop.set()
        for task in [*tasks, *(u.watch for u in result.uploads if u.watch), trickle]:
            if task is not None:
                task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if trickle is not None:
            await asyncio.gather(trickle, return_exceptions=True)
        await asyncio.gather(*(u.watch for u in result.uploads if u.watch), return_exceptions=True)
        for upload in result.uploads:
            upload.closing = True
            if upload.writer is not None:
                upload.writer.close()
        pool.close()
    result.connections_opened = pool.opened
    result.most_open = pool.most_open
    return result


# -- figures -------------------------------------------------------------------------------


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile (``inf`` stands for an unanswered request)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def summarise(found: Measurement, options: Options) -> dict[str, Any]:
    hellos = found.hellos
    ok = [h for h in hellos if h.status == 200 and h.latency is not None]
    latencies = [
        h.latency if h.status == 200 and h.latency is not None else math.inf for h in hellos
    ]
    within = [h for h in ok if h.latency is not None and h.latency <= options.within]
    late = [h for h in ok if h.latency is not None and h.latency > options.within]
    after_close = [h for h in ok if h.done is not None and h.done > found.uploads_closed]
    errors = [h for h in hellos if h.error is not None or (h.status not in (None, 200))]
    uploads = found.uploads

    def finite(value: float) -> float | None:
        return None if math.isinf(value) or math.isnan(value) else round(value, 6)

    return {
        "hello": {
            "sent": len(hellos),
            "within": len(within),
            "within_share": len(within) / len(hellos) if hellos else 0.0,
            "late": len(late),
            "answered_after_uploads_closed": len(after_close),
            "errors": len(errors),
            "error_examples": sorted({h.error or f"status {h.status}" for h in errors})[:3],
            "unanswered": len(hellos) - len(ok) - len(errors),
            "p50_s": finite(percentile(latencies, 0.50)),
            "p90_s": finite(percentile(latencies, 0.90)),
            "p99_s": finite(percentile(latencies, 0.99)),
            "max_answered_s": round(max((h.latency or 0.0) for h in ok), 6) if ok else None,
            "connections_opened": found.connections_opened,
            "most_connections_open": found.most_open,
            "send_lag_p99_s": round(percentile(found.lag, 0.99), 6) if found.lag else None,
        },
        "uploads": {
            "connected": sum(u.connected for u in uploads),
            "open_at_end": sum(u.connected and not u.closed_by_server for u in uploads),
            "answered_early": sum(u.answer is not None for u in uploads),
            "answer_examples": sorted(
                {u.answer.split(b"\r\n")[0].decode("latin-1") for u in uploads if u.answer}
            )[:3],
            "bytes_trickled": sum(u.trickled for u in uploads),
        },
    }


def meets_goal(summary: dict[str, Any]) -> bool:
    hello = summary["hello"]
    p99 = hello["p99_s"]
    return hello["within_share"] >= GOAL_SHARE and p99 is not None and p99 < GOAL_P99


# -- one server ----------------------------------------------------------------------------


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
    servers = _servers()
    cpu = SERVER_CPU if (os.cpu_count() or 1) >= 2 else None
    with tempfile.TemporaryDirectory(prefix="slow-clients-") as tmp:
        try:
            server = servers.ServerProcess(
                config.name,
                pinned_command(config.command(servers), cpu),
                Path(tmp),
                cwd=ROOT,
                ready_path="/hello",
            )
        except servers.ServerError as exc:  # it stopped the server it started
            log(f"{config.name}: did not start: {exc}")
            return {**result, "failed": str(exc).splitlines()[0]}
        try:
            _warm_up(server.port)
            found = asyncio.run(measure(server.port, options))
            result.update(summarise(found, options))
            result["goal_met"] = meets_goal(result)
            server.stop(grace=10)
            result["stopped"] = "killed" if server.killed else "terminated"
            log_text = server.log.read_text(errors="replace")
            result["server_log_lines"] = len(log_text.splitlines())
            result["server_log_head"] = log_text[:600]
            result["server_log_tail"] = log_text[-600:]
        finally:
            server.kill()  # whatever is left in the group we started (nothing, normally)
            if server.proc.poll() is None:
                result["stopped"] = "still running"
    return result


def _warm_up(port: int, requests: int = 20) -> None:
    """A few requests on one connection, so Flask's first-request work is done."""
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        for _ in range(requests):
            conn.request("GET", "/hello")
            conn.getresponse().read()
        conn.request("POST", "/upload", body=b"x" * 1000)
        conn.getresponse().read()
    finally:
        conn.close()


# -- report --------------------------------------------------------------------------------


def _ms(seconds: float | None, unanswered: bool) -> str:
    if seconds is None:
        return "no answer" if unanswered else "—"
    if seconds >= 1:
        return f"{seconds:.1f} s"
    return f"{seconds * 1000:.1f} ms"


def markdown(results: list[dict[str, Any]], options: Options) -> str:
    header = (
        f"| server | app | `/hello` sent | answered within {options.within:g} s | p50 | p99 "
        "| late / errors / no answer | uploads open at the end | goal |"
    )
    lines = [header, "|" + "---|" * header.count(" | ") + "---|"]
    for r in results:
        if r.get("skipped") or r.get("failed"):
            why = r.get("skipped") or f"did not start: {r.get('failed')}"
            lines.append(f"| {r['server']} | {r['app']} | {why} |||||||")
            continue
        hello, uploads = r["hello"], r["uploads"]
        lines.append(
            f"| {r['server']} | {r['app']} | {hello['sent']} "
            f"| {hello['within_share'] * 100:.1f}% "
            f"| {_ms(hello['p50_s'], True)} | {_ms(hello['p99_s'], True)} "
            f"| {hello['late']} / {hello['errors']} / {hello['unanswered']} "
            f"| {uploads['open_at_end']} of {options.uploaders} "
            f"| {'met' if r['goal_met'] else '**not met**'} |"
        )
    return "\n".join(lines) + "\n"


def problems(results: list[dict[str, Any]], options: Options) -> list[str]:
    """What makes a row not a measurement of the scenario."""
    found = []
    for r in results:
        if r.get("skipped"):
            continue
        if r.get("failed"):
            found.append(f"{r['name']}: did not start: {r['failed']}")
            continue
        if r["uploads"]["connected"] < options.uploaders:
            found.append(
                f"{r['name']}: only {r['uploads']['connected']} of {options.uploaders} "
                "uploads connected"
            )
        if r.get("stopped") == "still running":
            found.append(f"{r['name']}: still running after the stop")
    return found


def _raise_fd_limit(needed: int) -> tuple[int, int]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.slow_clients", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("configs", nargs="*", metavar="SERVER", help=", ".join(CONFIG_NAMES))
    parser.add_argument("--uploaders", type=int, default=100, help="slow uploads (100)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of /hello (10)")
    parser.add_argument("--rate", type=float, default=100.0, help="/hello per second (100)")
    parser.add_argument("--within", type=float, default=2.0, help="seconds counted in time (2)")
    parser.add_argument("--settle", type=float, default=1.0, help="seconds before /hello (1)")
    parser.add_argument("--grace", type=float, default=2.0, help="seconds for late answers (2)")
    parser.add_argument(
        "--length", type=int, default=UPLOAD_LENGTH, help="each upload's Content-Length (100000)"
    )
    parser.add_argument(
        "--expect-continue",
        action="store_true",
        help="uploads send Expect: 100-continue (the bridge does not pre-read those)",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.configs) - set(CONFIG_NAMES))
    if unknown:
        parser.error(f"unknown servers {unknown}; known: {', '.join(CONFIG_NAMES)}")
    if min(args.uploaders, args.length, args.duration, args.rate, args.within) <= 0:
        parser.error("--uploaders, --length, --duration, --rate and --within must be positive")
    options = Options(args.uploaders, args.duration, args.rate, args.within, args.settle,
                      args.grace, args.length, args.expect_continue)  # fmt: skip
    # Client sockets: the uploads and, against a server that stops answering, one
    # /hello connection per request sent. The servers inherit the limit.
    needed = options.uploaders + int(options.rate * (options.duration + options.within)) + 512
    fd_limit = _raise_fd_limit(needed)
    if (os.cpu_count() or 1) >= 2:
        os.sched_setaffinity(0, {CLIENT_CPU})
    random.seed(0)
    started = time.monotonic()

    log = elapsed_log(started)

    chosen = [c for c in CONFIGS if not args.configs or c.name in args.configs]
    results = []
    for config in chosen:
        result = run_config(config, options, log)
        if result.get("hello"):
            hello = result["hello"]
            log(
                f"{config.name}: {hello['within']} of {hello['sent']} /hello within "
                f"{options.within:g} s, p99 {_ms(hello['p99_s'], True)}, "
                f"{result['uploads']['open_at_end']} uploads open at the end"
            )
        results.append(result)
    meta = run_meta(
        MODULE, argv, started, "wsgi-asgi-bridge", "a2wsgi", "flask", "uvicorn", "uvloop",
        "httptools", "h11", "waitress", "gunicorn",
    )  # fmt: skip
    meta.update(
        options=options.__dict__,
        fd_limit=list(fd_limit),
        goal={"within_share": GOAL_SHARE, "p99_s": GOAL_P99},
    )
    if args.json is not None:
        args.json.write_text(json.dumps({"meta": meta, "results": results}, indent=1) + "\n")
    print(markdown(results, options))
    versions = ", ".join(f"{name} {version}" for name, version in meta["versions"].items())
    print(
        f"{options.uploaders} uploads of {options.length} bytes at 1 byte/s"
        f"{' with Expect: 100-continue' if options.expect_continue else ''}; `GET /hello` at "
        f"{options.rate:g}/s for {options.duration:g} s, open loop. Goal: at least "
        f"{GOAL_SHARE:.0%} within {options.within:g} s and p99 under {GOAL_P99 * 1000:.0f} ms. "
        f"{meta['date']}, Python {meta['python']}, {versions}."
    )
    trouble = problems(results, options)
    for line in trouble:
        log(f"problem: {line}")
    return 1 if trouble else 0


if __name__ == "__main__":
    raise SystemExit(main())
