"""Smoke test of ``python -m benchmarks.files --quick`` (a 16 MiB file, one round).

No speed is asserted, only the shape of the result: every route either skipped
with a reason or measured (a whole file each time, positive MB/s, a CPU
figure), ratios to the native route of its app, and a Markdown table with one
row per measured route.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.e2e
@pytest.mark.timeout(240)
def test_quick_run_gives_a_complete_result_and_table(tmp_path: Path) -> None:
    for name in ("flask", "starlette", "a2wsgi", "gunicorn", "uvicorn"):
        pytest.importorskip(name)
    from benchmarks.files import ROUTES

    out = tmp_path / "result.json"
    command = [sys.executable, "-m", "benchmarks.files", "--quick", "--json", str(out)]
    done = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=220, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["meta"]["mib"] == 16 and result["meta"]["rounds"] == 1
    routes = result["routes"]
    assert set(routes) == {route.name for route in ROUTES}
    measured = {name for name, found in routes.items() if "mb_per_s" in found}
    # gunicorn and uvicorn are installed: both natives and both bridges are measured.
    assert {
        "flask-native", "flask-bridge-uvicorn", "starlette-native", "starlette-bridge",
        "zerocopy-native", "zerocopy-bridge",
    } <= measured  # fmt: skip
    for name, found in routes.items():
        if name not in measured:
            assert found.get("skipped"), (name, found)
            continue
        [figures] = found["rounds"]
        assert figures["mb_per_s"] > 0 and figures["cpu_s_per_gib"] >= 0
        assert result["ratios"][name]["mb_per_s"] > 0
    assert result["ratios"]["flask-native"]["mb_per_s"] == 1.0
    assert result["ratios"]["starlette-native"]["mb_per_s"] == 1.0

    lines = done.stdout.splitlines()
    assert lines[0].startswith("| app | served | server | MB/s")
    rows = [line for line in lines[2:] if line.startswith("| ")]
    assert len(rows) == len(measured), done.stdout
    assert sum("**AsgiToWsgi**" in row for row in rows) == 2  # FileResponse, zerocopysend
