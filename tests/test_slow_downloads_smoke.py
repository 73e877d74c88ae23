"""Smoke test of ``python -m benchmarks.slow_downloads`` on a small scale (4 s downloads).

No time is asserted, only the shape of the result: every download accounted
for and checked for its length, the goal evaluated, the busy-worker samples
taken from the bridge, the server stopped, and a Markdown table with one row
per server.
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
def test_small_run_gives_a_complete_result_and_table(tmp_path: Path) -> None:
    pytest.importorskip("uvicorn")
    pytest.importorskip("flask")
    out = tmp_path / "result.json"
    command = [
        sys.executable, "-m", "benchmarks.slow_downloads", "bridge", "native-asgi",
        "--clients", "20", "--size", "262144", "--rate", "65536", "--limit", "20",
        "--json", str(out),
    ]  # fmt: skip
    done = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=110, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(out.read_text())

    assert result["meta"]["options"]["clients"] == 20
    assert [r["name"] for r in result["results"]] == ["bridge", "native-asgi"]
    for row in result["results"]:
        assert row["skipped"] is None and row["failed"] is None, row
        assert row["stopped"] == "terminated"
        downloads = row["downloads"]
        assert downloads["clients"] == 20
        assert 0 <= downloads["within_goal"] <= downloads["complete"] <= 20
        assert row["hello"]["sent"] > 0
        assert 0.0 <= row["hello"]["within_share"] <= 1.0
        assert isinstance(row["goal_met"], bool)
        assert row["rss"]["idle_mib"] > 0
    bridge_busy = result["results"][0]["busy"]
    assert bridge_busy["samples"] and 0 <= bridge_busy["max"] <= 10
    assert result["results"][1]["busy"]["samples"] == []  # no pool natively

    lines = done.stdout.splitlines()
    assert lines[0].startswith("| server | app | complete")
    rows = [line for line in lines if line.startswith("| uvicorn |")]
    assert len(rows) == 2, done.stdout
