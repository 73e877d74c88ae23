"""Targets, the Markdown table and the PNG chart, from a summarised result."""

from __future__ import annotations

import datetime
import importlib.util
import os
import platform
import sys
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

LABELS = {"w2a": "WSGI→ASGI", "a2w": "ASGI→WSGI"}


# Issue 5's end-to-end targets: (group, the row the bridge is compared with, least ratio).
TARGET_E2E = (
    ("Flask on uvicorn", "uvicorn", 1.0),
    ("Flask on uvicorn", "gunicorn sync (native)", 1.0),
    ("Starlette on gunicorn gthread", "plain WSGI", 0.7),
    ("Starlette on waitress", "plain WSGI", 0.6),
)



def run_meta(module: str, argv: list[str] | None, started: float, *names: str) -> dict[str, Any]:
    """The header of a scenario benchmark's JSON: when, where, which versions, what command.

    ``started`` is the run's ``time.monotonic()`` at its start; ``names`` are the
    distributions whose versions matter to it.
    """
    return {
        "date": datetime.date.today().isoformat(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "versions": installed_versions(*names),
        "command": " ".join([f"python -m {module}", *(argv or sys.argv[1:])]),
        "wall_seconds": round(time.monotonic() - started, 1),
    }


# Run a Python command pinned to one CPU under the same PID (exec), so that stopping it
# by PID and process group works as for the bare command.
_PIN = (
    "import os, sys; os.sched_setaffinity(0, {int(sys.argv[1])}); "
    "os.execv(sys.executable, [sys.executable, *sys.argv[2:]])"
)


def pinned(argv: list[str], cpu: int) -> list[str]:
    """``argv`` (``python ...``) run pinned to ``cpu``."""
    return [argv[0], "-c", _PIN, str(cpu), *argv[1:]]


def pinned_command(
    command: Callable[[int], list[str]], cpu: int | None
) -> Callable[[int], list[str]]:
    """A server command (port -> argv) run pinned to ``cpu``; as it is for None."""
    if cpu is None:
        return command
    return lambda port: pinned(command(port), cpu)


def elapsed_log(started: float) -> Callable[[str], None]:
    """A progress log to stderr, each line stamped with the seconds since ``started``."""

    def log(text: str) -> None:
        print(f"[{time.monotonic() - started:5.1f}s] {text}", file=sys.stderr, flush=True)

    return log


def not_installed(*modules: str) -> str | None:
    """Why a benchmark row cannot run here (the first module missing), or None."""
    for name in modules:
        if importlib.util.find_spec(name) is None:
            return f"{name} is not installed (pip install {name})"
    return None


def installed_versions(*names: str) -> dict[str, str]:
    """The installed version of each named distribution, for a result's header."""
    found = {}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return found

def _label(key: str) -> str:
    direction, _, rest = key.partition(" ")
    return f"{LABELS.get(direction, direction)} {rest}"


def targets(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """Issue 5's targets: each with the measured ratio and whether it is met."""
    found: list[dict[str, Any]] = []

    def add(name: str, value: float, limit: float, higher_is_better: bool) -> None:
        met = value >= limit if higher_is_better else value <= limit
        op = "≥" if higher_is_better else "≤"
        found.append({"target": f"{name} {op} {limit:g}", "value": round(value, 3), "met": met})

    for key, by_name in summary.get("overhead", {}).items():
        if "bridge" in by_name:
            add(f"{_label(key)} hello: bridge / floor", by_name["bridge"]["x_floor"], 1.3, False)
    for key, by_name in summary.get("stream", {}).items():
        if "bridge" in by_name and "a2wsgi" in by_name:
            ratio = by_name["bridge"]["mb_per_s"] / by_name["a2wsgi"]["mb_per_s"]
            add(f"{_label(key)}: bridge MB/s / a2wsgi MB/s", ratio, 2.0, True)
        if "bridge" in by_name:
            add(
                f"{_label(key)}: bridge peak RSS growth (MiB) <",
                by_name["bridge"]["rss_growth_mib"],
                32.0,
                False,
            )
    e2e = summary.get("e2e", {})
    for group, other, limit in TARGET_E2E:
        by_name = e2e.get(group, {})
        if "bridge" in by_name and other in by_name and by_name[other]["requests_per_s"] > 0:
            ratio = by_name["bridge"]["requests_per_s"] / by_name[other]["requests_per_s"]
            add(f"{group}: bridge / {other} (req/s)", ratio, limit, True)
    for item in found:
        if "RSS" in item["target"]:
            item["target"] = item["target"].replace(" < ≤", " <")
    return found


# The Starlette end-to-end targets as a budget. Each server runs on one CPU, so
# 10^6 / (requests/s) is the CPU time of one request in µs; the target allows
# plain / ratio - plain µs on top of the plain WSGI hello, for the hop, Starlette
# and the bridge together. "one hop + Starlette" is the hop and Starlette
# measured together in the same server (hop_starlette in e2e_apps), not added
# up from the parts; a reference, not a floor (the bridge's hand-off is cheaper).
HOP_STARLETTE = "one hop + Starlette"


def _starlette_budget(result: dict[str, Any]) -> list[str]:
    alone = result.get("starlette_alone_us", {}).get("median")
    rows, ratios = [], []
    for group, other, ratio in TARGET_E2E:
        by_name = result.get("e2e", {}).get(group, {})
        names = (other, "one-hop floor", "bridge")
        if not group.startswith("Starlette") or alone is None:
            continue
        if not all(by_name.get(name, {}).get("requests_per_s") for name in names):
            continue
        plain, floor, bridge = (1e6 / by_name[name]["requests_per_s"] for name in names)
        hop = floor - plain
        measured = by_name.get(HOP_STARLETTE, {}).get("requests_per_s")
        both = f"{1e6 / measured - plain:.0f}" if measured else "n/a"
        rows.append(
            f"| {group} | {plain:.0f} | {plain / ratio - plain:.0f} | {hop:.0f} | {alone:.0f} "
            f"| {hop + alone:.0f} | {both} | {bridge - plain:.0f} |"
        )
        if measured:
            ratios.append(f"{group} {by_name['bridge']['requests_per_s'] / measured:.2f}")
    if not rows:
        return []
    lines = [
        "Where a Starlette request's time goes, in µs of the server's one CPU "
        "(10⁶ / requests/s), on top of the plain WSGI hello:",
        "",
        "| server | plain hello | the target allows | one hop (floor) "
        "| Starlette alone, in-process | hop + Starlette, added | "
        "hop + Starlette, measured | bridge with Starlette |",
        "|---|---|---|---|---|---|---|---|",
        *rows,
        "",
    ]
    if ratios:
        lines += [
            f"Bridge / {HOP_STARLETTE} (req/s; 1 = the bridge costs nothing beyond one "
            f"hop and the app): {', '.join(ratios)}.",
            "",
        ]
    return lines


def _switches(value: dict[str, Any]) -> str:
    # Results written before the counts existed have none: say so, not 0.
    if "switches_per_64k" not in value:
        return "n/a"
    return f"{value['switches_per_64k']:.1f} ({value['involuntary_per_64k']:.1f})"


def markdown(result: dict[str, Any]) -> str:
    meta = result.get("meta", {})
    lines = [
        f"Run {meta.get('date', '?')} on {meta.get('cpus', '?')} x {meta.get('cpu', '?')}, "
        f"Python {meta.get('python', '?')}; medians of {meta.get('rounds', '?')} rounds"
        f"{' (quick run)' if meta.get('quick') else ''}; {meta.get('wall_seconds', '?')} s in all.",
        "",
    ]
    if "overhead" in result:
        lines += [
            "Per-request overhead, hello world, in-process (each measurement: up to "
            f"{meta.get('requests', '?')} requests or "
            f"{meta.get('seconds_per_measurement', '?')} s):",
            "",
            "| scenario | implementation | µs/request | x floor | rounds |",
            "|---|---|---|---|---|",
        ]
        for key, by_name in result["overhead"].items():
            for name, value in by_name.items():
                bold = "**" if name == "bridge" else ""
                rounds = " ".join(f"{v:.1f}" for v in value["rounds"])
                lines.append(
                    f"| {_label(key)} | {bold}{name}{bold} | {bold}{value['us_per_request']:.1f}"
                    f"{bold} | {value['x_floor']:.2f} | {rounds} |"
                )
        lines.append("")
    if "stream" in result:
        lines += [
            f"Streaming {meta.get('stream_mib', '?'):g} MiB in 64 KiB chunks, in-process "
            "(MB = 10⁶ bytes; RSS growth = rise of VmHWM, the worst round; context switches "
            "of the process per 64 KiB of body, from getrusage, the median round, with the "
            "involuntary ones among them in brackets):",
            "",
            "| scenario | implementation | MB/s | x a2wsgi | peak RSS growth MiB "
            "| switches / 64 KiB | rounds MB/s |",
            "|---|---|---|---|---|---|---|",
        ]
        for key, by_name in result["stream"].items():
            base = by_name.get("a2wsgi", {}).get("mb_per_s")
            for name, value in by_name.items():
                bold = "**" if name == "bridge" else ""
                ratio = f"{value['mb_per_s'] / base:.2f}" if base else ""
                rounds = " ".join(f"{r['mb_per_s']:.0f}" for r in value["rounds"])
                lines.append(
                    f"| {_label(key)} | {bold}{name}{bold} | {bold}{value['mb_per_s']:.0f}{bold} "
                    f"| {ratio} | {value['rss_growth_mib']:.2f} | {_switches(value)} | {rounds} |"
                )
        lines.append("")
    if "e2e" in result:
        lines += [
            f"End to end over 127.0.0.1, load generator {meta.get('loadgen', '?')} on the other "
            f"CPU, {meta.get('e2e_connections', '?')} connections, "
            f"{meta.get('e2e_loads', '?')} loads of {meta.get('e2e_seconds', '?'):g} s per "
            "server, the servers of a group taking turns:",
            "",
            "| server | implementation | requests/s | x reference | errors | rounds |",
            "|---|---|---|---|---|---|",
        ]
        for group, by_name in result["e2e"].items():
            reference_name = "uvicorn" if group.startswith("Flask") else "plain WSGI"
            reference = by_name.get(reference_name, {}).get("requests_per_s")
            for name, value in by_name.items():
                bold = "**" if name == "bridge" else ""
                ratio = f"{value['requests_per_s'] / reference:.2f}" if reference else ""
                rounds = " ".join(f"{r['requests_per_s']:.0f}" for r in value["rounds"])
                lines.append(
                    f"| {group} | {bold}{name}{bold} | {bold}{value['requests_per_s']:.0f}{bold} "
                    f"| {ratio} | {value['errors']:g} | {rounds} |"
                )
        lines += [
            "",
            "x reference: Flask rows against uvicorn's own WSGIMiddleware, "
            "Starlette rows against the plain WSGI hello on the same server.",
            "",
        ]
        lines += _starlette_budget(result)
    if result.get("targets"):
        lines += ["Targets (issue 5):", "", "| target | measured | met |", "|---|---|---|"]
        for item in result["targets"]:
            lines.append(
                f"| {item['target']} | {item['value']:.2f} | {'yes' if item['met'] else '**no**'} |"
            )
        lines.append("")
    return "\n".join(lines)


def chart(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [key for key in ("overhead", "stream", "e2e") if result.get(key)]
    if not panels:
        return
    fig, axes = plt.subplots(1, len(panels), figsize=(6.2 * len(panels), 5.2), squeeze=False)
    for ax, key in zip(axes[0], panels, strict=True):
        labels: list[str] = []
        values: list[float] = []
        colours: list[str] = []
        for group, by_name in result[key].items():
            for name, value in by_name.items():
                if key == "overhead":
                    number = value["x_floor"]
                elif key == "stream":
                    number = value["mb_per_s"]
                else:
                    number = value["requests_per_s"]
                title = _label(group) if key != "e2e" else group.replace("Starlette on ", "St/")
                labels.append(f"{title} · {name}")
                values.append(number)
                colours.append(
                    "tab:red"
                    if name == "bridge"
                    else "salmon"
                    if name.startswith("bridge")
                    else "tab:gray"
                )
            labels.append("")
            values.append(0.0)
            colours.append("white")
        positions = list(range(len(labels)))[::-1]
        ax.barh(positions, values, color=colours)
        ax.set_yticks(positions, labels, fontsize=7)
        for position, number in zip(positions, values, strict=True):
            if number:
                text = f" {number:.2f}" if key == "overhead" else f" {number:.0f}"
                ax.text(number, position, text, va="center", fontsize=6)
        if key == "overhead":
            ax.set_xscale("log")
            ax.axvline(1.3, color="tab:blue", linestyle="--", linewidth=1)
            ax.set_title("per-request cost, x the one-hop floor (log; lower is better)", fontsize=9)
        elif key == "stream":
            ax.set_title("streaming, MB/s (higher is better)", fontsize=9)
        else:
            ax.set_title("end to end, requests/s (higher is better)", fontsize=9)
    meta = result.get("meta", {})
    fig.suptitle(
        f"bridge vs peers, {meta.get('date', '')}, {meta.get('cpu', '')}, "
        f"Python {meta.get('python', '')}; bridge in red",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
