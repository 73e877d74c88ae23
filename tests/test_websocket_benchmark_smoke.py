"""Smoke test of ``python -m benchmarks.websocket`` on a small scale (all four servers).

No speed is asserted, only the shape of the result: a row per server, each with
echoes counted and no error, a ratio for each bridge against its native peer,
and a Markdown table with one row per server.
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
    for module in ("uvicorn", "gunicorn", "flask_sock", "starlette", "websockets", "wsproto"):
        pytest.importorskip(module)
    out = tmp_path / "result.json"
    command = [
        sys.executable, "-m", "benchmarks.websocket", "--connections", "3",
        "--duration", "1", "--warmup", "0.5", "--json", str(out),
    ]  # fmt: skip
    done = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=110, check=False
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    result = json.loads(out.read_text())
    names = [row["name"] for row in result["results"]]
    assert names == ["flask-bridge", "flask-gthread", "starlette-bridge", "starlette-uvicorn"]
    for row in result["results"]:
        assert row["errors"] == 0, row
        assert row["messages"] > 0, row
        assert row["p50_s"] is not None and row["p50_s"] <= row["p99_s"], row
    assert result["meta"]["options"]["connections"] == 3
    table = [line for line in done.stdout.splitlines() if line.startswith("| ")]
    assert len(table) == 1 + 4  # the header and one row per server
    assert table[1].rstrip().endswith("x |")  # flask-bridge, with its ratio to flask-gthread
