"""Smoke test of ``python -m benchmarks.response_end`` on one fast host (wsgiref).

No time is asserted, only the shape of the result: every route with every
client connection mode, a whole response, the background task's marks, and a
Markdown table with one row per response whose time cells say before or after.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CELL = re.compile(r"^(closed |answered )?\d+\.\d\d s \((before|after)\)$")


@pytest.mark.e2e
@pytest.mark.timeout(90)
def test_one_host_gives_a_complete_result_and_table(tmp_path: Path) -> None:
    pytest.importorskip("starlette")
    out = tmp_path / "result.json"
    command = [
        sys.executable, "-m", "benchmarks.response_end", "wsgiref", "--bg", "0.1",
        "--json", str(out),
    ]  # fmt: skip
    done = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=80, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(out.read_text())

    assert result["meta"]["bg"] == 0.1
    assert result["meta"]["python"]
    [host] = result["hosts"]
    assert host["host"] == "wsgiref"
    assert host["skipped"] is None
    assert host["stopped"] == "terminated"
    pairs = {(x["route"], x["connection"]) for x in host["exchanges"]}
    routes, connections = ("content-length", "streaming"), ("keep-alive", "close")
    assert pairs == {(route, mode) for route in routes for mode in connections}
    for item in host["exchanges"]:
        assert item["error"] is None, item
        assert item["status"] == 200 and item["body_ok"], item
        assert item["framing"] in {"content-length", "chunked", "close"}
        assert item["body_end"] is not None
        # wsgiref closes every connection: the client sees it.
        assert item["eof"] is not None
        assert item["bg_start"] is not None and item["bg_end"] is not None

    lines = done.stdout.splitlines()
    assert lines[0].startswith("| host | response | framing")
    rows = [line for line in lines if line.startswith("| wsgiref |")]
    assert len(rows) == 2, done.stdout
    for row in rows:
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        assert len(cells) == len(lines[0].strip("|").split("|"))
        for cell in cells[3:]:
            assert CELL.match(cell), (cell, done.stdout)
