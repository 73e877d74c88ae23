"""Smoke test of ``python -m benchmarks.slow_clients`` on a small scale (the bridge on uvicorn).

No time is asserted, only the shape of the result: both rows with every
``/hello`` accounted for, every upload connected, the goal evaluated, the
servers stopped, and a Markdown table with one row per server.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.e2e
@pytest.mark.timeout(90)
def test_small_run_gives_a_complete_result_and_table(tmp_path: Path) -> None:
    pytest.importorskip("uvicorn")
    pytest.importorskip("flask")
    out = tmp_path / "result.json"
    command = [
        sys.executable, "-m", "benchmarks.slow_clients", "bridge", "bridge-lazy",
        "--uploaders", "5", "--duration", "1", "--rate", "20", "--settle", "0.5",
        "--grace", "1", "--json", str(out),
    ]  # fmt: skip
    done = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=80, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(out.read_text())

    assert result["meta"]["python"]
    assert result["meta"]["options"]["uploaders"] == 5
    assert [r["name"] for r in result["results"]] == ["bridge", "bridge-lazy"]
    for row in result["results"]:
        assert row["skipped"] is None and row["failed"] is None, row
        assert row["stopped"] == "terminated"
        hello = row["hello"]
        assert hello["sent"] == 20
        assert hello["within"] + hello["late"] + hello["errors"] + hello["unanswered"] == 20
        assert 0.0 <= hello["within_share"] <= 1.0
        assert row["uploads"]["connected"] == 5
        assert row["uploads"]["open_at_end"] <= 5
        assert isinstance(row["goal_met"], bool)

    lines = done.stdout.splitlines()
    assert lines[0].startswith("| server | app | `/hello` sent")
    rows = [line for line in lines if line.startswith("| uvicorn |")]
    assert len(rows) == 2, done.stdout
    width = len(lines[0].strip("|").split("|"))
    for row_text in rows:
        assert len(row_text.strip("|").split("|")) == width
