"""WebSockets through the bridge (issue 16): messages per second and latency of a 1 KiB echo.

    python -m benchmarks.websocket                      # all four servers, about 60 s
    python -m benchmarks.websocket flask-bridge flask-gthread --connections 50 --duration 10
    python -m benchmarks.websocket --json out.json

Four servers, one at a time, each started by tests/servers.py on a free
127.0.0.1 port, pinned to CPU 0 (this process, the client, runs on CPU 1 when
there are two), and stopped by its PID:

* ``flask-bridge``: Flask-Sock through ``bridge.WsgiToAsgi(workers=64)`` on uvicorn;
* ``flask-gthread``: the same Flask-Sock app natively on gunicorn
  (``-w 1 -k gthread --threads 64``);
* ``starlette-bridge``: a Starlette WebSocket endpoint through
  ``bridge.AsgiToWsgi`` on gunicorn (``-w 1 -k gthread --threads 64``);
* ``starlette-uvicorn``: the same Starlette app natively on uvicorn.

``--connections`` clients (50, the ``websockets`` library, one event loop) each
send a 1 KiB binary message and wait for its echo, over and over, for
``--duration`` seconds (10) after ``--warmup`` seconds (1) that are not counted;
the echoes that complete within those ``--duration`` seconds are counted. A
message's latency runs from its send to its echo. The table gives the echoes
per second over all connections, p50 and p99 latency, and each bridge's ratio to
its native peer (messages per second, bridge / native) from the same run.
Every loop is bounded in count and time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import importlib.util
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.report import elapsed_log, installed_versions, pinned_command

ROOT = Path(__file__).resolve().parent.parent
MODULE = "benchmarks.websocket"
SERVER_CPU, CLIENT_CPU = 0, 1
THREADS = 64
MESSAGE = bytes(range(256)) * 4  # 1 KiB


# -- the apps (imported by the server processes) -----------------------------------------


def _flask_app() -> Any:
    from flask import Flask
    from flask_sock import Sock

    app = Flask(__name__)
    app.config["SOCK_SERVER_OPTIONS"] = {"receive_bytes": 65536}
    sock = Sock(app)

    @app.get("/hello")
    def hello() -> str:
        return "hello"

    @sock.route("/echo")
    def echo(ws: Any) -> None:
        while True:
            ws.send(ws.receive())

    return app


def _starlette_app() -> Any:
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route, WebSocketRoute
    from starlette.websockets import WebSocket, WebSocketDisconnect

    async def echo(ws: WebSocket) -> None:
        await ws.accept()
        with contextlib.suppress(WebSocketDisconnect):
            while True:
                await ws.send_bytes(await ws.receive_bytes())

    async def hello(request: Any) -> PlainTextResponse:
        return PlainTextResponse("hello")

    return Starlette(routes=[Route("/hello", hello), WebSocketRoute("/echo", echo)])


def __getattr__(name: str) -> Any:
    """The apps, built when a server imports them (uvicorn looks them up by getattr)."""
    from bridge import AsgiToWsgi, WsgiToAsgi

    if name == "flask_wsgi":
        return _flask_app()
    if name == "flask_bridge":
        return WsgiToAsgi(_flask_app(), workers=THREADS)
    if name == "starlette_app":
        return _starlette_app()
    if name == "starlette_bridge":
        return AsgiToWsgi(_starlette_app())
    raise AttributeError(name)


# -- the servers ---------------------------------------------------------------------------


def _servers() -> Any:
    """tests/servers.py: the launchers and ServerProcess the real-server tests use."""
    tests = str(ROOT / "tests")
    if tests not in sys.path:
        sys.path.insert(0, tests)
    import servers

    return servers


# gunicorn looks the app up in the module's namespace, not with getattr(): it
# gets a small module that builds it.
_GUNICORN_SHIM = "import benchmarks.websocket as w\n{name} = w.__getattr__({name!r})\n"


@dataclass(frozen=True)
class Config:
    name: str
    server: str
    app: str
    needs: tuple[str, ...]
    command: Callable[[Any, Path], Any]  # (servers module, shim folder) -> Command
    peer: str | None  # the native run this one is compared with


def _gunicorn(name: str) -> Callable[[Any, Path], Any]:
    def command(servers: Any, shims: Path) -> Any:
        (shims / f"ws_{name}.py").write_text(_GUNICORN_SHIM.format(name=name))
        return servers.gunicorn(
            f"ws_{name}:{name}", "-w", "1", "-k", "gthread", "--threads", str(THREADS),
            "--pythonpath", str(shims),
        )  # fmt: skip

    return command


CONFIGS = [
    Config("flask-bridge", "uvicorn", f"Flask-Sock through `WsgiToAsgi(workers={THREADS})`",
           ("uvicorn", "flask_sock"),
           lambda s, _: s.uvicorn(f"{MODULE}:flask_bridge", "--host", "127.0.0.1"),
           "flask-gthread"),
    Config("flask-gthread", f"gunicorn gthread (1 worker, {THREADS} threads)",
           "Flask-Sock natively", ("gunicorn", "flask_sock"), _gunicorn("flask_wsgi"), None),
    Config("starlette-bridge", f"gunicorn gthread (1 worker, {THREADS} threads)",
           "Starlette through `AsgiToWsgi`", ("gunicorn", "starlette"),
           _gunicorn("starlette_bridge"), "starlette-uvicorn"),
    Config("starlette-uvicorn", "uvicorn", "Starlette natively", ("uvicorn", "starlette"),
           lambda s, _: s.uvicorn(f"{MODULE}:starlette_app", "--host", "127.0.0.1"), None),
]  # fmt: skip
CONFIG_NAMES = [config.name for config in CONFIGS]



# -- the client ----------------------------------------------------------------------------


async def _echo_loop(
    ws: Any, start: float, stop: float, latencies: list[float], errors: list[str]
) -> None:
    loop = asyncio.get_running_loop()
    try:
        while (sent := loop.time()) < stop:
            await ws.send(MESSAGE)
            reply = await asyncio.wait_for(ws.recv(), 30)
            if reply != MESSAGE:
                errors.append("wrong echo")
                return
            done = loop.time()
            if start <= done <= stop:  # echoes completed within the measured window
                latencies.append(done - sent)
    except Exception as exc:  # counted, not raised: the table shows it
        errors.append(f"{type(exc).__name__}: {exc}")


async def measure(port: int, connections: int, warmup: float, duration: float) -> dict[str, Any]:
    from websockets.asyncio.client import connect

    loop = asyncio.get_running_loop()
    url = f"ws://127.0.0.1:{port}/echo"
    # All connections open first: the clock starts when every one can echo.
    opened = await asyncio.wait_for(
        asyncio.gather(
            *(connect(url, ping_interval=None, max_size=None) for _ in range(connections))
        ),
        60,
    )
    start = loop.time() + warmup
    stop = start + duration
    latencies: list[float] = []
    errors: list[str] = []
    try:
        await asyncio.wait_for(
            asyncio.gather(*(_echo_loop(ws, start, stop, latencies, errors) for ws in opened)),
            warmup + duration + 60,
        )
    finally:
        await asyncio.gather(*(ws.close() for ws in opened), return_exceptions=True)
    latencies.sort()

    def pick(share: float) -> float | None:
        if not latencies:
            return None
        return latencies[min(len(latencies) - 1, int(share * len(latencies)))]

    return {
        "messages": len(latencies),
        "per_second": len(latencies) / duration,
        "p50_s": pick(0.50),
        "p99_s": pick(0.99),
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
    }


def run_config(
    config: Config, args: argparse.Namespace, log: Callable[[str], None]
) -> dict[str, Any]:
    result: dict[str, Any] = {"name": config.name, "server": config.server, "app": config.app}
    for module in config.needs:
        if importlib.util.find_spec(module) is None:
            log(f"{config.name}: skipped: {module} is not installed")
            return {**result, "skipped": f"{module} is not installed"}
    servers = _servers()
    cpu = SERVER_CPU if (os.cpu_count() or 1) >= 2 else None
    with tempfile.TemporaryDirectory(prefix="ws-bench-") as tmp:
        try:
            server = servers.ServerProcess(
                config.name,
                pinned_command(config.command(servers, Path(tmp)), cpu),
                Path(tmp),
                cwd=ROOT,
                ready_path="/hello",
            )
        except servers.ServerError as exc:
            log(f"{config.name}: did not start: {exc}")
            return {**result, "failed": str(exc).splitlines()[0]}
        try:
            found = asyncio.run(measure(server.port, args.connections, args.warmup, args.duration))
            result.update(found)
        finally:
            server.stop(grace=10)
            server.kill()
    return result


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.2f} ms"


def markdown(results: list[dict[str, Any]]) -> str:
    by_name = {result["name"]: result for result in results}
    lines = [
        "| run | server | app | messages/s | p50 | p99 | errors | vs native |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for result in results:
        if "per_second" not in result:
            reason = result.get("skipped") or result.get("failed")
            lines.append(f"| {result['name']} | {result['server']} | {result['app']} | "
                         f"{reason} | | | | |")  # fmt: skip
            continue
        config = next(c for c in CONFIGS if c.name == result["name"])
        ratio = ""
        peer = by_name.get(config.peer or "")
        if peer and peer.get("per_second"):
            ratio = f"{result['per_second'] / peer['per_second']:.2f}x"
        lines.append(
            f"| {result['name']} | {result['server']} | {result['app']} | "
            f"{result['per_second']:,.0f} | {_ms(result['p50_s'])} | {_ms(result['p99_s'])} | "
            f"{result['errors']} | {ratio} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.websocket", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("configs", nargs="*", metavar="SERVER", help=", ".join(CONFIG_NAMES))
    parser.add_argument("--connections", type=int, default=50, help="WebSockets at once (50)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds measured (10)")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds not counted (1)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.configs) - set(CONFIG_NAMES))
    if unknown:
        parser.error(f"unknown servers {unknown}; known: {', '.join(CONFIG_NAMES)}")
    if args.connections < 1 or args.duration <= 0 or args.warmup < 0:
        parser.error("--connections and --duration must be positive, --warmup not negative")
    if (os.cpu_count() or 1) >= 2:
        os.sched_setaffinity(0, {CLIENT_CPU})
    started = time.monotonic()

    log = elapsed_log(started)

    results = []
    for config in CONFIGS:
        if args.configs and config.name not in args.configs:
            continue
        result = run_config(config, args, log)
        if "per_second" in result:
            log(f"{config.name}: {result['per_second']:,.0f} messages/s, "
                f"p99 {_ms(result['p99_s'])}, {result['errors']} errors")  # fmt: skip
        results.append(result)
    meta = {
        "date": datetime.date.today().isoformat(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "versions": installed_versions(
            "wsgi-asgi-bridge", "flask-sock", "simple-websocket", "wsproto", "starlette",
            "uvicorn", "websockets", "gunicorn",
        ),
        "options": {"connections": args.connections, "duration": args.duration,
                    "warmup": args.warmup, "message_bytes": len(MESSAGE)},
        "command": " ".join(["python -m benchmarks.websocket", *(argv or sys.argv[1:])]),
        "wall_seconds": round(time.monotonic() - started, 1),
    }  # fmt: skip
    if args.json is not None:
        args.json.write_text(json.dumps({"meta": meta, "results": results}, indent=1) + "\n")
    print(markdown(results))
    versions = ", ".join(f"{name} {version}" for name, version in meta["versions"].items())
    print(
        f"\n{args.connections} connections, each echoing 1 KiB messages one at a time for "
        f"{args.duration:g} s (after {args.warmup:g} s of warm-up). {meta['date']}, "
        f"Python {meta['python']}, {meta['cpus']} CPUs, {versions}."
    )
    return 0 if all(r.get("errors") == 0 for r in results if "per_second" in r) else 1


if __name__ == "__main__":
    sys.exit(main())
