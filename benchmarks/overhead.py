"""Per-request overhead of each bridge, hello world, driven in-process (no HTTP client).

    python benchmarks/overhead.py            # every implementation, 3 rounds, medians
    python benchmarks/overhead.py --rounds 5 --requests 50000 --seconds 2

Each measurement runs ``--requests`` requests or for ``--seconds``, whichever
ends first (``python -m benchmarks`` uses 1.5 s, so that the slow peers do not
dominate the run time).

Each measurement runs in a fresh process pinned to one CPU
(os.sched_setaffinity), implementations alternate within each round, and the
table gives medians in microseconds per request plus ratios to the floor, all
from the same run: the machines are shared and noisy, so only same-run ratios
mean anything.

Floors (what a bridge cannot beat by much):
* WSGI->ASGI: an ASGI app doing the WSGI hello work with one
  ``loop.run_in_executor`` round trip to a ThreadPoolExecutor(10).
* ASGI->WSGI: a WSGI app doing one ``asyncio.run_coroutine_threadsafe`` round
  trip to a shared background loop.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

if __package__:
    from .peers import ENVIRON, SCOPE, wrap_asgi, wrap_wsgi
else:  # run as a script: python benchmarks/overhead.py
    from peers import ENVIRON, SCOPE, wrap_asgi, wrap_wsgi


W2A = ["floor", "bridge", "a2wsgi", "asgiref", "uvicorn", "starlette"]
A2W = ["floor", "bridge", "a2wsgi"]


def hello_wsgi(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"Hello, world!"]


async def hello_asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain")],
        }
    )
    await send({"type": "http.response.body", "body": b"Hello, world!"})


def wsgi_to_asgi_app(name: str) -> Any:
    if name != "floor":
        return wrap_wsgi(name, hello_wsgi)
    executor = ThreadPoolExecutor(10)

    async def floor(scope: dict[str, Any], receive: Any, send: Any) -> None:
        result: list[Any] = []

        def work() -> None:
            result.append(hello_wsgi({}, lambda status, headers: None))

        await asyncio.get_running_loop().run_in_executor(executor, work)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": result[0][0]})

    return floor


async def drive_asgi(app: Any, requests: int, concurrency: int, seconds: float) -> float:
    """µs per request: ``concurrency`` clients until ``requests`` or ``seconds`` ran out."""

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        return None

    counts: list[int] = []

    async def client(count: int, deadline: float) -> None:
        done = 0
        clock = time.perf_counter
        while done < count and clock() < deadline:
            await app(dict(SCOPE), receive, send)
            done += 1
        counts.append(done)

    await client(200, float("inf"))  # warm-up
    counts.clear()
    start = time.perf_counter()
    deadline = start + seconds
    await asyncio.gather(*(client(requests // concurrency, deadline) for _ in range(concurrency)))
    return (time.perf_counter() - start) / sum(counts) * 1e6


def asgi_to_wsgi_app(name: str) -> Any:
    if name != "floor":
        return wrap_asgi(name, hello_asgi)
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True).start()

    async def work() -> bytes:
        return b"Hello, world!"

    def floor(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        body = asyncio.run_coroutine_threadsafe(work(), loop).result()
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [body]

    return floor


def drive_wsgi(app: Any, requests: int, threads: int, seconds: float) -> float:
    """µs per request: ``threads`` clients until ``requests`` or ``seconds`` ran out."""

    def start_response(status: str, headers: Any, exc_info: Any = None) -> None:
        return None

    counts: list[int] = []

    def client(count: int, deadline: float) -> None:
        done = 0
        clock = time.perf_counter
        while done < count and clock() < deadline:
            environ = dict(ENVIRON)
            environ["wsgi.input"] = io.BytesIO(b"")
            result = app(environ, start_response)
            b"".join(result)
            getattr(result, "close", lambda: None)()
            done += 1
        counts.append(done)

    client(200, float("inf"))  # warm-up
    counts.clear()
    start = time.perf_counter()
    deadline = start + seconds
    workers = [
        threading.Thread(target=client, args=(requests // threads, deadline))
        for _ in range(threads)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return (time.perf_counter() - start) / sum(counts) * 1e6


def measure_one(
    direction: str, name: str, concurrency: int, requests: int, seconds: float = 1e9
) -> float:
    os.sched_setaffinity(0, {0})
    if direction == "w2a":
        return asyncio.run(drive_asgi(wsgi_to_asgi_app(name), requests, concurrency, seconds))
    return drive_wsgi(asgi_to_wsgi_app(name), requests, concurrency, seconds)


def collect(
    rounds: int,
    requests: int,
    log: Any = print,
    keep: set[str] | None = None,
    seconds: float = 1e9,
) -> dict[str, dict[str, list[float]]]:
    """{scenario: {implementation: [µs/request, one per round]}}, alternating."""
    scenarios = [("w2a", c, W2A) for c in (1, 64)] + [("a2w", t, A2W) for t in (1, 8)]
    results: dict[str, dict[str, list[float]]] = {}
    for round_number in range(rounds):
        for direction, level, every in scenarios:
            names = [name for name in every if keep is None or name in keep]
            key = f"{direction} x{level}"
            rotated = names[round_number % len(names) :] + names[: round_number % len(names)]
            for name in rotated:
                command = [
                    sys.executable,
                    __file__,
                    "--requests",
                    str(requests),
                    "--seconds",
                    str(seconds),
                    "--one",
                    direction,
                    name,
                    str(level),
                ]
                out = subprocess.run(
                    command, capture_output=True, text=True, timeout=600, check=False
                )
                if out.returncode != 0:
                    log(f"{key} {name}: failed: {out.stderr.strip().splitlines()[-1:]}")
                    continue
                value = float(out.stdout)
                log(f"overhead {key} {name}: {value:.1f} µs/request")
                results.setdefault(key, {}).setdefault(name, []).append(value)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--seconds", type=float, default=1e9, help="stop each run after this")
    parser.add_argument("--one", nargs=3, metavar=("DIRECTION", "NAME", "CONCURRENCY"))
    args = parser.parse_args()
    if args.one:
        direction, name, concurrency = args.one
        print(measure_one(direction, name, int(concurrency), args.requests, args.seconds))
        return
    results = collect(args.rounds, args.requests, log=lambda text: None, seconds=args.seconds)
    print("| scenario | implementation | median µs/request | x floor | runs |")
    print("|---|---|---|---|---|")
    for key, by_name in results.items():
        floor = statistics.median(by_name["floor"])
        for name, values in by_name.items():
            median = statistics.median(values)
            runs = " ".join(f"{v:.1f}" for v in values)
            print(f"| {key} | {name} | {median:.1f} | {median / floor:.2f} | {runs} |")
    print(
        json.dumps({k: {n: statistics.median(v) for n, v in d.items()} for k, d in results.items()})
    )


if __name__ == "__main__":
    main()
