"""The whole comparison in one run: ``python -m benchmarks`` (or ``make bench``).

    python -m benchmarks                     # everything, about 8 minutes on 2 cores
    python -m benchmarks --quick             # a smoke run: 1 round, small sizes
    python -m benchmarks --sections overhead,stream --rounds 5

Three sections, each measurement in a fresh process, implementations
alternating from round to round, medians of the rounds:

* ``overhead``: per-request cost of a hello world, in-process (benchmarks/overhead.py);
* ``stream``: a large download and upload through each direction, MB/s and peak
  RSS growth (benchmarks/streaming.py);
* ``e2e``: real servers on 127.0.0.1 and a load generator on the other CPU
  (benchmarks/e2e.py).

Writes ``latest.json``, ``latest.md`` and ``latest.png`` into ``--out``
(default benchmarks/results/; a full run there also copies the chart to
docs/img/performance.png), and prints the Markdown table.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks import e2e, overhead, report, streaming

ROOT = Path(__file__).resolve().parent.parent
SECTIONS = ("overhead", "stream", "e2e")
DEFAULT_OUT = ROOT / "benchmarks" / "results"
DOCS_CHART = ROOT / "docs" / "img" / "performance.png"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _stream(
    rounds: int, mib: float, log: Any, keep: set[str] | None = None
) -> dict[str, dict[str, list[dict[str, float]]]]:
    results: dict[str, dict[str, list[dict[str, float]]]] = {}
    for round_number in range(rounds):
        for direction, way, every in streaming.scenarios():
            names = [name for name in every if keep is None or name in keep]
            key = f"{direction} {way}"
            shift = round_number % len(names)
            for name in names[shift:] + names[:shift]:
                command = [
                    sys.executable,
                    "-m",
                    "benchmarks.streaming",
                    "--one",
                    direction,
                    way,
                    name,
                    "--mib",
                    str(mib),
                ]
                out = subprocess.run(
                    command, capture_output=True, text=True, timeout=600, check=False, cwd=ROOT
                )
                if out.returncode != 0:
                    log(f"stream {key} {name}: failed: {out.stderr.strip().splitlines()[-1:]}")
                    continue
                value = json.loads(out.stdout)
                log(
                    f"stream {key} {name}: {value['mb_per_s']:.0f} MB/s, "
                    f"+{value['rss_growth_mib']:.2f} MiB"
                )
                results.setdefault(key, {}).setdefault(name, []).append(value)
    return results


def summarise(raw: dict[str, Any]) -> dict[str, Any]:
    """Medians (and ratios) from the per-round values."""
    summary: dict[str, Any] = {}
    if "overhead" in raw:
        summary["overhead"] = {
            key: {
                name: {
                    "us_per_request": statistics.median(values),
                    "x_floor": statistics.median(values) / statistics.median(by_name["floor"]),
                    "rounds": values,
                }
                for name, values in by_name.items()
            }
            for key, by_name in raw["overhead"].items()
            if "floor" in by_name
        }
    if "stream" in raw:
        summary["stream"] = {
            key: {
                name: {
                    "mb_per_s": statistics.median(r["mb_per_s"] for r in runs),
                    "rss_growth_mib": max(r["rss_growth_mib"] for r in runs),
                    **{
                        key: statistics.median(r[key] for r in runs)
                        for key in ("switches_per_64k", "involuntary_per_64k")
                        if all(key in r for r in runs)
                    },
                    "rounds": runs,
                }
                for name, runs in by_name.items()
            }
            for key, by_name in raw["stream"].items()
        }
    if "e2e" in raw:
        summary["e2e"] = {
            group: {
                name: {
                    "requests_per_s": statistics.median(r["requests_per_s"] for r in runs),
                    "errors": sum(r.get("errors", 0) for r in runs),
                    "rounds": runs,
                }
                for name, runs in by_name.items()
            }
            for group, by_name in raw["e2e"].items()
        }
    if "starlette_alone_us" in raw:
        summary["starlette_alone_us"] = {
            "median": statistics.median(raw["starlette_alone_us"]),
            "rounds": raw["starlette_alone_us"],
        }
    summary["targets"] = report.targets(summary)
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="1 round, small sizes, 1 s loads")
    parser.add_argument("--rounds", type=int, default=None, help="rounds (default 3; quick: 1)")
    parser.add_argument(
        "--requests", type=int, default=None, help="most requests per measurement (20000)"
    )
    parser.add_argument(
        "--seconds", type=float, default=None, help="most seconds per measurement (1.5)"
    )
    parser.add_argument("--mib", type=float, default=None, help="stream size in MiB (256)")
    parser.add_argument("--duration", type=float, default=None, help="seconds per load (2)")
    parser.add_argument("--sections", default=",".join(SECTIONS), help="overhead,stream,e2e")
    parser.add_argument(
        "--e2e-only",
        default=None,
        help="comma list of 'group/implementation' or implementation names",
    )
    parser.add_argument(
        "--implementations", default=None, help="comma list: only these (and the floors)"
    )
    parser.add_argument("--loadgen", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--no-chart", action="store_true")
    args = parser.parse_args(argv)
    quick = args.quick
    rounds = args.rounds or (1 if quick else 3)
    requests = args.requests or (1000 if quick else 20000)
    seconds = args.seconds or (0.3 if quick else 1.5)
    mib = args.mib or (8.0 if quick else 256.0)
    duration = args.duration or (1.0 if quick else 2.0)
    e2e_rounds = rounds if quick else 2 * rounds  # short loads, taking turns
    sections = [s for s in args.sections.split(",") if s]
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections: {sorted(unknown)}")

    def log(text: str) -> None:
        print(f"[{time.monotonic() - started:6.1f}s] {text}", file=sys.stderr, flush=True)

    keep = set(args.implementations.split(",")) | {"floor"} if args.implementations else None
    started = time.monotonic()
    raw: dict[str, Any] = {}
    loadgen = "none"
    if "overhead" in sections:
        raw["overhead"] = overhead.collect(rounds, requests, log, keep, seconds)
    if "stream" in sections:
        raw["stream"] = _stream(rounds, mib, log, keep)
    if "e2e" in sections:
        wrk = None if args.loadgen == "python" else e2e.ensure_wrk(log)
        if args.loadgen == "wrk" and wrk is None:
            parser.error("wrk is not available")
        loadgen = "wrk" if wrk else "python"
        only = set(args.e2e_only.split(",")) if args.e2e_only else None
        raw["e2e"] = e2e.run(e2e_rounds, duration, wrk, only, log)
        log("Starlette on its own, in-process")
        raw["starlette_alone_us"] = e2e.starlette_alone(rounds, requests)
    result = summarise(raw)
    result["meta"] = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "cpu": _cpu_model(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": report.installed_versions(
            "wsgi-asgi-bridge", "a2wsgi", "asgiref", "uvicorn", "starlette", "flask",
            "gunicorn", "waitress", "uvloop",
        ),
        "rounds": rounds,
        "requests": requests,
        "seconds_per_measurement": seconds,
        "stream_mib": mib,
        "e2e_seconds": duration,
        "e2e_loads": e2e_rounds,
        "e2e_connections": e2e.CONNECTIONS,
        "loadgen": loadgen,
        "quick": quick,
        "wall_seconds": round(time.monotonic() - started, 1),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "latest.json").write_text(json.dumps(result, indent=1) + "\n")
    table = report.markdown(result)
    (args.out / "latest.md").write_text(table)
    if not args.no_chart:
        report.chart(result, args.out / "latest.png")
        if args.out == DEFAULT_OUT and not quick:  # the chart docs/performance.md embeds
            DOCS_CHART.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(args.out / "latest.png", DOCS_CHART)
    print(table)
    log(f"wrote {args.out / 'latest.json'}, latest.md, latest.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
