"""Render the matrix of the last run into docs/compatibility.md.

``python tests/matrix/report.py --run`` runs the matrix (pytest with
BRIDGE_MATRIX_JSON set, see conftest.py) and renders its outcomes;
``python tests/matrix/report.py RESULTS.json`` renders a file from an earlier
run. The generated text goes between the ``<!-- matrix:... -->`` markers of
docs/compatibility.md; everything else in the page is left alone.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
DOC = ROOT / "docs" / "compatibility.md"
sys.path.insert(0, str(HERE.parent))

from matrix._servers import HOSTS  # noqa: E402
from matrix.corpus import BODY_NORMALISATION, CORPUS, IGNORED_HEADERS  # noqa: E402
from matrix.test_matrix import ASGI_APPS, BRIDGE_SERVERS, HOST_APPS, NATIVE, WSGI_APPS  # noqa: E402

BLOCKS = ("table", "normalisations")
TITLES = {
    "wsgi": "WSGI apps through `WsgiToAsgi`, on ASGI servers",
    "asgi": "ASGI apps through `AsgiToWsgi`, on WSGI servers",
}


def _cell_text(results: list[dict[str, Any]], notes: dict[str, int]) -> str:
    total = len(CORPUS)
    passed = [r for r in results if r["outcome"] == "passed"]
    impossible = [r for r in results if r["outcome"] == "xfailed"]
    failed = [r for r in results if r["outcome"] not in ("passed", "xfailed")]
    if not results:
        return "not run"
    parts = [f"{'✅' if not failed else '❌'} {len(passed)}/{total}"]
    for r in impossible:
        number = notes.setdefault(r["reason"], len(notes) + 1)
        parts.append(f"{r['item']} impossible [{number}]")
    if failed:
        parts.append("failed: " + ", ".join(r["item"] for r in failed))
    limited = sorted({r["item"] for r in passed if r.get("framework_limit")})
    if limited:
        parts.append("† " + ", ".join(limited))
    host_limited = sorted({r["item"] for r in passed if r.get("host_limit")})
    if host_limited:
        parts.append("‡ " + ", ".join(host_limited))
    return "<br>".join(parts)


def _lifecycle_text(seen: dict[str, Any] | None, lifespan: bool) -> tuple[str, str, str]:
    """(lifespan startup, stop, lifespan shutdown) of one host's lifecycle record."""
    if seen is None:
        return "not run", "not run", "not run"
    mark = "✅" if seen["outcome"] == "passed" else "❌"
    code = seen["returncode"]
    stop = (
        f"{mark} exited ({code}) after {seen['stop_seconds']} s"
        if code is not None
        else f"{mark} still running"
    )
    if seen["group_left"]:
        stop += ", left processes"
    if not lifespan:
        return "n/a (a WSGI app has none)", stop, "n/a"
    served = len(seen["served"])
    started = len(seen["startup_pids"])
    done = len(seen["shutdown_pids"])
    if served == 1:
        startup = f"{mark} in the one worker that served"
    else:
        startup = f"{mark} in each of the {served} workers that served"
    if done == started:
        shutdown = f"{mark} runs in every worker ({done} of {started})"
    else:
        shutdown = f"{mark} {'does not run' if not done else 'runs in some'} ({done} of {started})"
    return startup, stop, shutdown


def _in_flight_text(record: dict[str, Any] | None) -> str:
    if record is None:
        return "not run"
    mark = "✅" if record["outcome"] == "passed" else "❌"
    answer = "answered" if record["answered"] else "dropped"
    shutdown = (
        "its worker runs shutdown" if record["busy_shutdown"] else "its worker skips shutdown"
    )
    return f"{mark} {answer}; {shutdown}"


def render_hosts(
    data: dict[str, Any],
    cells: dict[tuple[str, str, str], list[dict[str, Any]]],
    notes: dict[str, int],
) -> list[str]:
    """The deployment hosts: one app each, its corpus and its lifecycle."""
    lifecycles = {record["server"]: record for record in data.get("hosts", [])}
    in_flight = {record["server"]: record for record in data.get("in_flight", [])}
    lines = [
        "",
        "### Deployment hosts",
        "",
        f"{HOST_APPS['asgi']} through `AsgiToWsgi` (and {HOST_APPS['wsgi']} through `WsgiToAsgi` "
        "on granian's ASGI interface), compared with the same app on its native server. After "
        "the corpus, `GET /worker` from 6 threads at once (24 requests) says which process "
        "answered and whether its lifespan startup had run; then the stop signal goes to the "
        "server's PID only. A second run stops it while a 3 s request is in flight. "
        "‡ marks items where the host itself rewrites what any WSGI app sends "
        "(natively too), so only what the item expects is asserted.",
        "",
        "| host | corpus | lifespan startup | stop (signal to the PID) | lifespan shutdown | "
        "a request in flight at the stop |",
        "|---|---|---|---|---|---|",
    ]
    for name, host in HOSTS.items():
        app = HOST_APPS[host.kind]
        corpus = _cell_text(cells.get((host.kind, app, name), []), notes)
        startup, stop, shutdown = _lifecycle_text(lifecycles.get(name), host.lifespan)
        stop = f"{host.stop_signal.name}: {stop}"
        flight = _in_flight_text(in_flight.get(name)) if host.lifespan else "n/a"
        lines.append(
            f"| `{name}`: {host.label} | {corpus} | {startup} | {stop} | {shutdown} | {flight} |"
        )
    return lines


def render_table(data: dict[str, Any]) -> str:
    cells: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for record in data["cells"]:
        cells[record["kind"], record["app"], record["server"]].append(record)
    counts: dict[str, int] = defaultdict(int)
    for record in data["cells"]:
        counts[record["outcome"]] += 1
    summary = ", ".join(f"{n} {outcome}" for outcome, n in sorted(counts.items()))
    lines = [
        f"Last run: {data['finished']}, {data['python']}; {len(data['cells'])} test ids "
        f"(cell x corpus item): {summary}.",
        "",
        "Each cell gives how many of the corpus's "
        f"{len(CORPUS)} requests answered the same through the bridge as natively. "
        "[n] is a combination that cannot work (xfail strict; reasons below); "
        "† marks items where the framework itself, natively too, cannot do what the "
        "item asks (bridged = native is still asserted; see below).",
    ]
    notes: dict[str, int] = {}
    limits: dict[tuple[str, str], str] = {}
    host_limits: dict[tuple[str, str], str] = {}
    for kind, apps in (("wsgi", WSGI_APPS), ("asgi", ASGI_APPS)):
        servers = BRIDGE_SERVERS[kind]
        lines += ["", f"### {TITLES[kind]} (natively: {NATIVE[kind]})", ""]
        lines.append("| app | " + " | ".join(servers) + " |")
        lines.append("|---" * (len(servers) + 1) + "|")
        for app in apps:
            row = [_cell_text(cells.get((kind, app, s), []), notes) for s in servers]
            lines.append(f"| {app} | " + " | ".join(row) + " |")
            for s in servers:
                for r in cells.get((kind, app, s), []):
                    if r.get("framework_limit"):
                        limits[app, r["item"]] = r["framework_limit"]
    lines += render_hosts(data, cells, notes)
    for r in data["cells"]:
        if r.get("host_limit"):
            host_limits[r["server"], r["item"]] = r["host_limit"]
    lines += ["", "### Combinations that cannot work", ""]
    if notes:
        for reason, number in sorted(notes.items(), key=lambda kv: kv[1]):
            lines.append(f"{number}. {reason}.")
    else:
        lines.append("None in this run.")
    lines += ["", "### † Framework limits (the same natively)", ""]
    lines += [f"- {app}, `{item}`: {reason}." for (app, item), reason in sorted(limits.items())]
    if host_limits:
        lines += ["", "### ‡ Host rewrites (the same for any WSGI app)", ""]
        lines += [
            f"- `{server}`, `{item}`: {reason}."
            for (server, item), reason in sorted(host_limits.items())
        ]
    versions = ", ".join(f"{name} {v}" for name, v in data["versions"].items())
    lines += ["", f"Versions: {versions}."]
    return "\n".join(lines)


def render_normalisations() -> str:
    lines = ["Headers left out of the comparison:", ""]
    lines += [f"- `{name}`: {why}." for name, why in IGNORED_HEADERS.items()]
    lines += ["", f"Bodies: {BODY_NORMALISATION}."]
    return "\n".join(lines)


def replace_block(text: str, name: str, content: str) -> str:
    begin = f"<!-- matrix:{name}:begin (generated by tests/matrix/report.py) -->"
    end = f"<!-- matrix:{name}:end -->"
    if begin not in text or end not in text:
        raise SystemExit(f"{DOC}: the markers {begin!r} and {end!r} are missing")
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{begin}\n{content}\n{end}{tail}"


def run_matrix(results: Path) -> int:
    env = {**os.environ, "BRIDGE_MATRIX_JSON": str(results)}
    command = [sys.executable, "-m", "pytest", "-q", str(HERE), "-p", "no:cacheprovider"]
    return subprocess.call(command, cwd=ROOT, env=env)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="?", type=Path, help="a JSON file from a matrix run")
    parser.add_argument("--run", action="store_true", help="run the matrix first")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        results = args.results
        if args.run:
            results = Path(tmp) / "matrix.json"
            code = run_matrix(results)
            print(f"pytest exited with {code}")
        if results is None or not results.exists():
            raise SystemExit("no results: pass a JSON file or --run")
        data = json.loads(results.read_text())
    text = DOC.read_text()
    text = replace_block(text, "table", render_table(data))
    text = replace_block(text, "normalisations", render_normalisations())
    DOC.write_text(text)
    print(f"wrote {DOC}")


if __name__ == "__main__":
    main()
