"""A large file response through each bridge, on real servers: MB/s and the server's CPU.

    python -m benchmarks.files                    # 256 MiB, 3 rounds of 4 downloads per route
    python -m benchmarks.files --quick            # a smoke run: 16 MiB, 1 round of 2
    python -m benchmarks.files --mib 64 --rounds 5 --json out.json

A file (``--mib``, default 256 MiB) is written to a temporary folder and served
by one app per route, each in its own server process on a free 127.0.0.1 port
(started by tests/servers.py as the real-server tests start theirs):

* WSGI app, Flask ``send_file`` (which hands the file to ``wsgi.file_wrapper``):
  natively on gunicorn (sync worker, which sendfiles it); through
  ``bridge.WsgiToAsgi`` on uvicorn and on granian's ASGI interface (which
  implements ``http.response.pathsend``); through a2wsgi's ``WSGIMiddleware``
  on uvicorn.
* ASGI app, Starlette ``FileResponse`` (``http.response.pathsend`` where the
  server advertises it, else 64 KiB reads): natively on uvicorn (no pathsend)
  and on granian (pathsend); through ``bridge.AsgiToWsgi`` on gunicorn (sync
  worker: pathsend becomes gunicorn's ``wsgi.file_wrapper``, which it sendfiles)
  and through a2wsgi's ``ASGIMiddleware`` on gunicorn.
* A raw ASGI app that sends the file as one ``http.response.zerocopysend``
  where the server advertises it, and otherwise in 64 KiB reads in a thread:
  natively on uvicorn (which does not advertise it) and through
  ``bridge.AsgiToWsgi`` on gunicorn (the range goes to gunicorn's
  ``wsgi.file_wrapper`` over a file of the bridge's own).

Every server runs one worker process. All servers start first; then, round
after round, each route in turn serves one warm-up download and then
``--downloads`` downloads of the whole file to a raw-socket client that reads
into one buffer and discards it. Per route and round: MB/s over the measured
downloads, and the CPU seconds the server's process tree used meanwhile
(utime + stime of every process in the tree, from /proc/<pid>/stat), per GiB
sent. The table gives the medians of the rounds and each as a ratio to the
same app served natively (Flask on gunicorn; the ASGI apps on uvicorn, as
the issue's "native"). A route whose server is not installed is skipped, saying
so. The client runs on the same 2-core machine as the server: MB/s is
loopback throughput with the client's own cost included, the CPU figure is
the server's alone.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import importlib.util
import json
import os
import platform
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.report import installed_versions, not_installed

ROOT = Path(__file__).resolve().parent.parent
FILE_ENV = "FILES_BENCH_PATH"
MODULE = "benchmarks.files"
CLIENT_TIMEOUT = 120.0
CLK_TCK = os.sysconf("SC_CLK_TCK")


# -- the apps (imported by the server processes) ----------------------------------------------


def _file() -> str:
    return os.environ[FILE_ENV]


def _flask() -> Any:
    from flask import Flask, send_file

    app = Flask(__name__)

    @app.get("/file")
    def file() -> Any:
        return send_file(_file(), mimetype="application/octet-stream", conditional=False)

    @app.get("/ok")
    def ok() -> str:
        return "ok"

    return app


def _starlette() -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import FileResponse, PlainTextResponse, Response
    from starlette.routing import Route

    async def file(request: Request) -> Response:
        return FileResponse(_file(), media_type="application/octet-stream")

    async def ok(request: Request) -> Response:
        return PlainTextResponse("ok")

    return Starlette(routes=[Route("/file", file), Route("/ok", ok)])


async def _zerocopy(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """A raw ASGI app: ``http.response.zerocopysend`` of the whole file where the server
    advertises it, else 64 KiB reads in a thread (as Starlette's FileResponse does)."""
    if scope["type"] != "http":
        return
    if scope["path"] == "/ok":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})
        return
    path = _file()
    headers = [
        (b"content-type", b"application/octet-stream"),
        (b"content-length", str(os.path.getsize(path)).encode()),
    ]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    with open(path, "rb") as file:
        if "http.response.zerocopysend" in scope.get("extensions", {}):
            await send({"type": "http.response.zerocopysend", "file": file})
            return
        loop = asyncio.get_running_loop()
        while block := await loop.run_in_executor(None, file.read, 65536):
            await send({"type": "http.response.body", "body": block, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


def _build(name: str) -> Any:
    from benchmarks.peers import wrap_asgi, wrap_wsgi

    if name == "flask_native":
        return _flask()
    if name == "starlette_native":
        return _starlette()
    if name == "zerocopy_native":
        return _zerocopy
    framework, _, through = name.partition("_")
    if framework == "flask":
        return wrap_wsgi(through, _flask())
    if framework == "zerocopy":
        return wrap_asgi(through, _zerocopy)
    return wrap_asgi(through, _starlette())


class _LazyWsgi:
    """A WSGI app built in the server process on first use (importing this module
    needs neither Flask nor Starlette)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._app: Any = None

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if self._app is None:
            self._app = _build(self.name)
        return self._app(environ, start_response)


class _LazyAsgi:
    """The same for an ASGI app (lifespan included)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._app: Any = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if self._app is None:
            self._app = _build(self.name)
        await self._app(scope, receive, send)


flask_native = _LazyWsgi("flask_native")
flask_bridge = _LazyAsgi("flask_bridge")
flask_a2wsgi = _LazyAsgi("flask_a2wsgi")
starlette_native = _LazyAsgi("starlette_native")
starlette_bridge = _LazyWsgi("starlette_bridge")
starlette_a2wsgi = _LazyWsgi("starlette_a2wsgi")
zerocopy_native = _LazyAsgi("zerocopy_native")
zerocopy_bridge = _LazyWsgi("zerocopy_bridge")


# -- the routes -------------------------------------------------------------------------------


def _servers() -> Any:
    """tests/servers.py: the launchers and ServerProcess the real-server tests use."""
    tests = str(ROOT / "tests")
    if tests not in sys.path:
        sys.path.insert(0, tests)
    import servers

    return servers


def _granian(target: str) -> Callable[[int], list[str]]:
    return lambda port: [
        sys.executable, "-m", "granian", "--interface", "asgi", "--host", "127.0.0.1",
        "--port", str(port), "--workers", "1", "--no-log", target,
    ]  # fmt: skip


# A sync worker holds its heartbeat during a request: a slow download must not time out.
GUNICORN = ("-w", "1", "--timeout", "600")
UVICORN = ("--no-access-log",)


@dataclass(frozen=True)
class Route:
    name: str
    app: str  # the table's "app" column
    through: str  # "natively" or the adapter
    server: str
    needs: str  # the module the server needs
    command: Callable[[Any], Any]  # servers module -> Command
    native: str  # the route this one is compared with
    group: str  # "WSGI app" or "ASGI app"


def _target(attr: str) -> str:
    return f"{MODULE}:{attr}"


FLASK = "Flask `send_file`"
STARLETTE = "Starlette `FileResponse`"
ZEROCOPY = "raw ASGI `zerocopysend`"
ROUTES = [
    Route("flask-native", FLASK, "natively", "gunicorn sync", "gunicorn",
          lambda s: s.gunicorn(_target("flask_native"), *GUNICORN), "flask-native", "WSGI app"),
    Route("flask-bridge-uvicorn", FLASK, "**WsgiToAsgi**", "uvicorn", "uvicorn",
          lambda s: s.uvicorn(_target("flask_bridge"), *UVICORN), "flask-native", "WSGI app"),
    Route("flask-bridge-granian", FLASK, "**WsgiToAsgi**", "granian (ASGI, pathsend)", "granian",
          lambda s: _granian(_target("flask_bridge")), "flask-native", "WSGI app"),
    Route("flask-a2wsgi", FLASK, "a2wsgi WSGIMiddleware", "uvicorn", "uvicorn",
          lambda s: s.uvicorn(_target("flask_a2wsgi"), *UVICORN), "flask-native", "WSGI app"),
    Route("starlette-native", STARLETTE, "natively", "uvicorn", "uvicorn",
          lambda s: s.uvicorn(_target("starlette_native"), *UVICORN), "starlette-native",
          "ASGI app"),
    Route("starlette-native-granian", STARLETTE, "natively", "granian (ASGI, pathsend)",
          "granian", lambda s: _granian(_target("starlette_native")), "starlette-native",
          "ASGI app"),
    Route("starlette-bridge", STARLETTE, "**AsgiToWsgi**", "gunicorn sync", "gunicorn",
          lambda s: s.gunicorn(_target("starlette_bridge"), *GUNICORN), "starlette-native",
          "ASGI app"),
    Route("starlette-a2wsgi", STARLETTE, "a2wsgi ASGIMiddleware", "gunicorn sync", "gunicorn",
          lambda s: s.gunicorn(_target("starlette_a2wsgi"), *GUNICORN), "starlette-native",
          "ASGI app"),
    Route("zerocopy-native", ZEROCOPY, "natively", "uvicorn (no zerocopysend: 64 KiB reads)",
          "uvicorn", lambda s: s.uvicorn(_target("zerocopy_native"), *UVICORN),
          "zerocopy-native", "ASGI app"),
    Route("zerocopy-bridge", ZEROCOPY, "**AsgiToWsgi**", "gunicorn sync", "gunicorn",
          lambda s: s.gunicorn(_target("zerocopy_bridge"), *GUNICORN), "zerocopy-native",
          "ASGI app"),
]  # fmt: skip
ROUTE_NAMES = [route.name for route in ROUTES]
# What every route needs besides its server.
APP_NEEDS = ("flask", "starlette", "a2wsgi")


# -- measuring --------------------------------------------------------------------------------


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds) of a process, from /proc/<pid>/stat; None if it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()  # after "pid (comm) "
    # fields[0] is state (field 3): ppid is field 4, utime 14, stime 15.
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / CLK_TCK


def tree_cpu(root: int) -> float:
    """CPU seconds (user + system) used so far by ``root`` and all its descendants alive now."""
    parents: dict[int, int] = {}
    cpu: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            found = _stat(int(entry))
            if found is not None:
                parents[int(entry)], cpu[int(entry)] = found
    tree, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        for pid, ppid in parents.items():
            if ppid == parent and pid not in tree:
                tree.add(pid)
                frontier.append(pid)
    return sum(cpu.get(pid, 0.0) for pid in tree)


def download(port: int, buffer: memoryview) -> int:
    """GET /file on a new connection; read the whole body into ``buffer``, over and
    over (discarding it); return its length. Raises if the response is not a whole 200."""
    with socket.create_connection(("127.0.0.1", port), timeout=CLIENT_TIMEOUT) as sock:
        sock.sendall(b"GET /file HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = sock.recv(65536)
            if not chunk:
                raise RuntimeError(f"connection closed before the headers: {head[:200]!r}")
            head += chunk
        head, _, first = head.partition(b"\r\n\r\n")
        status_line, *lines = head.decode("latin-1").split("\r\n")
        if status_line.split(" ")[1] != "200":
            raise RuntimeError(f"not a 200: {status_line}")
        headers = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines)}
        if "content-length" not in headers:
            raise RuntimeError(f"no Content-Length: {headers}")
        length = int(headers["content-length"])
        received = len(first)
        while received < length:
            got = sock.recv_into(buffer, min(len(buffer), length - received))
            if not got:
                raise RuntimeError(f"connection closed after {received} of {length} bytes")
            received += got
        return length


def measure(server: Any, downloads: int, size: int, buffer: memoryview) -> dict[str, float]:
    """One warm-up download, then ``downloads`` measured ones: MB/s and server CPU s / GiB."""
    if download(server.port, buffer) != size:
        raise RuntimeError("the response is not the whole file")
    cpu_before, started = tree_cpu(server.proc.pid), time.perf_counter()
    for _ in range(downloads):
        if download(server.port, buffer) != size:
            raise RuntimeError("the response is not the whole file")
    seconds = time.perf_counter() - started
    cpu = tree_cpu(server.proc.pid) - cpu_before
    sent = downloads * size
    return {
        "mb_per_s": sent / seconds / 1e6,
        "cpu_s_per_gib": cpu / (sent / 2**30),
        "seconds": seconds,
    }


# -- the run ----------------------------------------------------------------------------------


def run(
    chosen: list[Route], mib: int, rounds: int, downloads: int, log: Callable[[str], None]
) -> dict[str, Any]:
    servers = _servers()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="files-bench-") as tmp:
        path = Path(tmp) / "file.bin"
        block = os.urandom(1024 * 1024)
        with path.open("wb") as out:
            for _ in range(mib):
                out.write(block)
        size = path.stat().st_size
        started: dict[str, Any] = {}
        try:
            for route in chosen:
                reason = not_installed(route.needs)
                if reason:
                    log(f"{route.name}: skipped: {reason}")
                    results[route.name] = {"skipped": reason}
                    continue
                try:
                    started[route.name] = servers.ServerProcess(
                        route.name, route.command(servers), Path(tmp), env={FILE_ENV: str(path)},
                        ready_path="/ok", startup_seconds=60,
                    )  # fmt: skip
                except servers.ServerError as exc:
                    log(f"{route.name}: did not start: {exc}")
                    results[route.name] = {"failed": str(exc).splitlines()[0]}
                    continue
                results[route.name] = {"rounds": []}
            buffer = memoryview(bytearray(1024 * 1024))
            for number in range(1, rounds + 1):
                for route in chosen:
                    server = started.get(route.name)
                    if server is None:
                        continue
                    try:
                        figures = measure(server, downloads, size, buffer)
                    except (OSError, RuntimeError) as exc:
                        log(f"{route.name}: failed: {exc!r}")
                        results[route.name] = {"failed": repr(exc)}
                        started.pop(route.name).stop()
                        continue
                    results[route.name]["rounds"].append(figures)
                    log(
                        f"round {number} {route.name}: {figures['mb_per_s']:.0f} MB/s, "
                        f"{figures['cpu_s_per_gib']:.2f} CPU s/GiB"
                    )
        finally:
            for server in started.values():
                server.stop()
                server.kill()
    for result in results.values():
        if result.get("rounds"):
            result["mb_per_s"] = statistics.median(r["mb_per_s"] for r in result["rounds"])
            result["cpu_s_per_gib"] = statistics.median(
                r["cpu_s_per_gib"] for r in result["rounds"]
            )
    return results


def ratios(results: dict[str, Any]) -> dict[str, dict[str, float | None]]:
    """Each measured route's MB/s and CPU as a ratio to its native route's."""
    found = {}
    for route in ROUTES:
        mine, native = results.get(route.name, {}), results.get(route.native, {})
        if "mb_per_s" in mine and "mb_per_s" in native:
            # CPU is counted in clock ticks: a native route too cheap to register
            # one has no ratio (None).
            cpu = native["cpu_s_per_gib"]
            found[route.name] = {
                "mb_per_s": mine["mb_per_s"] / native["mb_per_s"],
                "cpu": mine["cpu_s_per_gib"] / cpu if cpu > 0 else None,
            }
    return found


def markdown(results: dict[str, Any]) -> str:
    header = ["app", "served", "server", "MB/s", "x native MB/s", "server CPU s/GiB",
              "x native CPU"]  # fmt: skip
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    relative = ratios(results)
    notes = []
    for route in ROUTES:
        result = results.get(route.name)
        if result is None:
            continue
        if "mb_per_s" not in result:
            notes.append(f"* {route.name}: {result.get('skipped') or result.get('failed')}")
            continue
        ratio = relative.get(route.name)
        cells = [
            route.app,
            route.through,
            route.server,
            f"{result['mb_per_s']:.0f}",
            "—" if ratio is None else f"{ratio['mb_per_s']:.2f}",
            f"{result['cpu_s_per_gib']:.2f}",
            "—" if ratio is None or ratio["cpu"] is None else f"{ratio['cpu']:.2f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines + (["", *notes] if notes else [])) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.files", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("routes", nargs="*", metavar="ROUTE", help=", ".join(ROUTE_NAMES))
    parser.add_argument("--mib", type=int, default=256, help="file size in MiB (256)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds over every route (3)")
    parser.add_argument("--downloads", type=int, default=4, help="measured per round (4)")
    parser.add_argument("--quick", action="store_true", help="16 MiB, 1 round of 2 downloads")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.routes) - set(ROUTE_NAMES))
    if unknown:
        parser.error(f"unknown routes {unknown}; known: {', '.join(ROUTE_NAMES)}")
    for name in APP_NEEDS:
        if importlib.util.find_spec(name) is None:
            parser.error(f"{name} is not installed (pip install -e '.[bench]')")
    if args.quick:
        args.mib, args.rounds, args.downloads = 16, 1, 2
    began = time.monotonic()

    def log(text: str) -> None:
        print(f"[{time.monotonic() - began:6.1f}s] {text}", file=sys.stderr, flush=True)

    chosen = [route for route in ROUTES if not args.routes or route.name in args.routes]
    results = run(chosen, args.mib, args.rounds, args.downloads, log)
    meta = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "versions": installed_versions(
            "wsgi-asgi-bridge", "flask", "starlette", "gunicorn", "uvicorn", "granian", "a2wsgi"
        ),
        "mib": args.mib,
        "rounds": args.rounds,
        "downloads": args.downloads,
        "command": " ".join(["python -m benchmarks.files", *(argv or sys.argv[1:])]),
    }
    if args.json is not None:
        args.json.write_text(
            json.dumps({"meta": meta, "routes": results, "ratios": ratios(results)}, indent=1)
            + "\n"
        )
    print(markdown(results))
    versions = ", ".join(f"{name} {version}" for name, version in meta["versions"].items())
    print(
        f"{args.mib} MiB file; medians of {args.rounds} round(s) of {args.downloads} "
        f"download(s) per route; {meta['date']}, Python {meta['python']}, "
        f"{meta['cpus']} CPUs, {versions}."
    )
    failed = [name for name, result in results.items() if result.get("failed")]
    for name in failed:
        log(f"problem: {name}: {results[name]['failed']}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
