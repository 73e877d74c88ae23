"""Smoke test of the benchmark runner: ``python -m benchmarks --quick`` on tiny sizes.

No timing is asserted: only that every section produced a positive number for
every implementation it names, that the Markdown table and the chart were
written, and that the targets were evaluated from those numbers.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.e2e
@pytest.mark.timeout(120)
def test_quick_run_writes_a_complete_result(tmp_path: Path) -> None:
    pytest.importorskip("a2wsgi")
    pytest.importorskip("matplotlib")
    command = [
        sys.executable, "-m", "benchmarks", "--quick", "--requests", "300", "--mib", "1",
        "--duration", "0.5", "--implementations", "floor,bridge,a2wsgi", "--loadgen", "python",
        "--out", str(tmp_path), "--e2e-only",
        "Flask on uvicorn/bridge,Starlette on waitress/bridge,Starlette on waitress/plain WSGI,"
        "Starlette on waitress/one-hop floor,Starlette on waitress/one hop + Starlette",
    ]  # fmt: skip
    done = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=110, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads((tmp_path / "latest.json").read_text())

    assert set(result["overhead"]) == {"w2a x1", "w2a x64", "a2w x1", "a2w x8"}
    for by_name in result["overhead"].values():
        assert set(by_name) == {"floor", "bridge", "a2wsgi"}
        for value in by_name.values():
            assert value["us_per_request"] > 0
            assert value["x_floor"] > 0
            assert len(value["rounds"]) == 1

    assert set(result["stream"]) == {"w2a download", "w2a upload", "a2w download", "a2w upload"}
    for by_name in result["stream"].values():
        assert set(by_name) == {"bridge", "a2wsgi"}
        for value in by_name.values():
            assert value["mb_per_s"] > 0
            assert value["rss_growth_mib"] >= 0
            assert value["switches_per_64k"] >= value["involuntary_per_64k"] >= 0
        for value in by_name.values():
            for run in value["rounds"]:
                # Pinned to one CPU: the process cannot use more than it in wall time.
                assert 0 < run["cpu_per_elapsed"] <= 1.2
    # An ASGI app streaming to a WSGI thread: each chunk makes the WSGI thread block
    # and be woken at least every second chunk, in the bridge as in a2wsgi.
    for name in ("bridge", "a2wsgi"):
        assert result["stream"]["a2w download"][name]["switches_per_64k"] >= 0.5

    assert set(result["e2e"]) == {"Flask on uvicorn", "Starlette on waitress"}, done.stderr
    assert set(result["e2e"]["Starlette on waitress"]) == {
        "bridge", "plain WSGI", "one-hop floor", "one hop + Starlette"
    }, done.stderr  # fmt: skip
    for by_name in result["e2e"].values():
        for value in by_name.values():
            assert value["requests_per_s"] > 0
            assert value["errors"] == 0

    targets = {item["target"]: item for item in result["targets"]}
    waitress = targets["Starlette on waitress: bridge / plain WSGI (req/s) ≥ 0.6"]
    e2e = result["e2e"]["Starlette on waitress"]
    expected = e2e["bridge"]["requests_per_s"] / e2e["plain WSGI"]["requests_per_s"]
    assert waitress["value"] == pytest.approx(expected, abs=5e-4)  # rounded to 3 places
    assert waitress["met"] is (expected >= 0.6)

    assert result["meta"]["loadgen"] == "python"
    assert result["meta"]["quick"] is True
    table = (tmp_path / "latest.md").read_text()
    assert "| ASGI→WSGI x8 | **bridge** |" in table
    # The budget row: every column a number, the measured floor among them, and
    # the bridge's ratio to that floor computed from the same run's rows.
    budget = next(
        line
        for line in table.splitlines()
        if line.startswith("| Starlette on waitress | ") and line.split("|")[2].strip().isdigit()
    )
    cells = [cell.strip() for cell in budget.strip("|").split("|")][1:]
    assert len(cells) == 7 and all(cell.lstrip("-").isdigit() for cell in cells), budget
    plain_us = 1e6 / e2e["plain WSGI"]["requests_per_s"]
    measured_us = 1e6 / e2e["one hop + Starlette"]["requests_per_s"] - plain_us
    assert int(cells[5]) == pytest.approx(measured_us, abs=0.51)
    ratio = e2e["bridge"]["requests_per_s"] / e2e["one hop + Starlette"]["requests_per_s"]
    assert "Bridge / one hop + Starlette (req/s;" in table
    assert f"Starlette on waitress {ratio:.2f}." in table
    assert (tmp_path / "latest.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.e2e
@pytest.mark.timeout(90)
@pytest.mark.parametrize("server", ["waitress", "gthread"])
def test_thread_cpu_accounts_for_every_thread_of_the_server(server: str) -> None:
    """benchmarks.thread_cpu: one row per busy thread of the serving process, their sum
    as the total, and no more than the one CPU the server is pinned to."""
    command = [
        sys.executable, "-m", "benchmarks.thread_cpu", server, "hello_bridge",
        "--duration", "1", "--loadgen", "python",
    ]  # fmt: skip
    done = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=80, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert lines[0].startswith(f"{server} hello_bridge: "), done.stdout
    requests_per_s = float(lines[0].split(": ")[1].split()[0])
    rows = [line for line in lines if line.startswith("  thread ")]
    # The server's own threads (for gunicorn its worker's, not the single-threaded
    # arbiter's) and the bridge's loop thread; one that ran less than a clock tick
    # has no row.
    assert 2 <= len(rows) <= 6, done.stdout
    per_thread = [float(row.split()[3]) + float(row.split()[5]) for row in rows]
    assert lines[-1].startswith("  all threads: ")
    total = float(lines[-1].split(":")[1])
    assert total == pytest.approx(sum(per_thread), abs=0.1 * len(rows) + 0.1)
    assert 0 < total * requests_per_s / 1e6 <= 1.5, done.stdout
