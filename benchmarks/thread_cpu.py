"""Where a server's CPU time goes, thread by thread, under an end-to-end load.

    python -m benchmarks.thread_cpu waitress starlette_bridge hello_bridge hop_starlette

For each app (a name from :mod:`benchmarks.e2e_apps`), in turn: start the server
as the end-to-end benchmark does (pinned to CPU 0, its own process group), warm
it up, then read every thread's user and system CPU time from
``/proc/PID/task/*/stat`` before and after one load by the same load generator
(pinned to CPU 1), and print each thread's µs of CPU per request, and how many
lines the server logged per request. Threads are
listed in creation order (by thread id): for gunicorn the worker process is
measured, not the arbiter. The sum of a server's rows is its CPU cost per
request; comparing the rows of two apps says which thread pays for a difference.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from benchmarks.e2e import _gunicorn, _load, _Server, _waitress, ensure_wrk

SERVERS = {"gthread": lambda app: _gunicorn("gthread", app), "waitress": _waitress}


def _ticks(pid: int) -> dict[int, tuple[int, int]]:
    """{thread id: (user, system) clock ticks} of every thread of ``pid``."""
    found = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:  # the thread ended between listdir and open
            continue
        found[int(tid)] = (int(fields[11]), int(fields[12]))
    return found


def _log_lines(path: Path) -> int:
    # waitress logs a warning for every request that has to queue for a thread.
    with open(path, "rb") as log:
        return sum(1 for _ in log)


def _measured_pid(server_name: str, server: _Server) -> int:
    """The process that serves: gunicorn's only worker, else the server itself."""
    if server_name != "gthread":
        return server.proc.pid
    children = Path(f"/proc/{server.proc.pid}/task/{server.proc.pid}/children")
    workers = children.read_text().split() if children.exists() else []
    if len(workers) != 1:
        # Measuring the arbiter instead would report a cost of almost nothing.
        raise RuntimeError(f"expected one gunicorn worker under {server.proc.pid}, found {workers}")
    return int(workers[0])


def measure(server_name: str, app: str, duration: float, wrk: str | None) -> list[str]:
    hz = os.sysconf("SC_CLK_TCK")
    with tempfile.TemporaryDirectory(prefix="bench-threads-") as tmp:
        server = _Server(SERVERS[server_name](app), Path(tmp))
        try:
            server.ready()
            _load(wrk, server.port, 1.0)  # warm-up: every thread exists after it
            pid = _measured_pid(server_name, server)
            logged = _log_lines(server.log_path)
            before = _ticks(pid)
            result = _load(wrk, server.port, duration)
            after = _ticks(pid)
            logged = _log_lines(server.log_path) - logged
        finally:
            server.stop()
    requests = result["requests"] or result["requests_per_s"] * duration
    if not requests:
        raise RuntimeError(f"{server_name} {app}: no request was answered during the load")
    if result["errors"]:
        # An app answering errors would look cheap: its figures are not a hello's.
        raise RuntimeError(f"{server_name} {app}: {result['errors']:.0f} answers were not 2xx")
    lines = [
        f"{server_name} {app}: {result['requests_per_s']:.0f} req/s, "
        f"{logged / requests:.2f} server log lines per request; µs of CPU per request:"
    ]
    total = 0.0
    for tid in sorted(after):
        user0, system0 = before.get(tid, (0, 0))
        user, system = after[tid][0] - user0, after[tid][1] - system0
        if user + system == 0:
            continue
        user_us, system_us = (1e6 * ticks / hz / requests for ticks in (user, system))
        total += user_us + system_us
        lines.append(f"  thread {tid}: user {user_us:6.1f}  system {system_us:6.1f}")
    lines.append(f"  all threads: {total:.1f}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("server", choices=sorted(SERVERS))
    parser.add_argument("apps", nargs="+", help="names from benchmarks.e2e_apps")
    parser.add_argument("--duration", type=float, default=4.0)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--loadgen", choices=("auto", "python"), default="auto")
    args = parser.parse_args()
    wrk = None if args.loadgen == "python" else ensure_wrk(print)
    for _ in range(args.rounds):
        for app in args.apps:
            print("\n".join(measure(args.server, app, args.duration, wrk)), flush=True)
            time.sleep(0.5)


if __name__ == "__main__":
    main()
