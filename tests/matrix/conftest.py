"""Records every matrix cell's outcome in a JSON file when BRIDGE_MATRIX_JSON names one.

``python tests/matrix/report.py --run`` sets it, runs the matrix and renders
docs/compatibility.md from the file; without the variable nothing is written.
"""

from __future__ import annotations

import json
import os
import platform
import sys
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import pytest

JSON_ENV = "BRIDGE_MATRIX_JSON"
PACKAGES = (
    "flask", "django", "bottle", "falcon", "fastapi", "starlette", "quart", "litestar",
    "uvicorn", "hypercorn", "trio", "daphne", "gunicorn", "uvicorn-worker", "waitress", "werkzeug",
    "uwsgi", "mod-wsgi", "cheroot", "gevent", "granian",
)  # fmt: skip

_outcomes: dict[str, dict[str, Any]] = {}
_hosts: dict[str, dict[str, Any]] = {}
_in_flight: dict[str, dict[str, Any]] = {}


def _host_outcome(report: pytest.TestReport, seen: dict[str, Any]) -> None:
    """A deployment host's lifecycle (test_host_lifecycle): what it saw, and the outcome."""
    if report.when == "call" or report.outcome != "passed":
        previous = _hosts.get(report.nodeid, {}).get("outcome")
        if previous in (None, "passed"):
            served = seen.get("served", {})
            _hosts[report.nodeid] = {
                **seen,
                "served": {str(pid): started for pid, started in served.items()},
                "outcome": report.outcome,
            }


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    properties = dict(report.user_properties)
    if isinstance(properties.get("host"), dict):
        _host_outcome(report, properties["host"])
    if isinstance(properties.get("in_flight"), dict) and report.when == "call":
        _in_flight[report.nodeid] = {**properties["in_flight"], "outcome": report.outcome}
    cell = properties.get("matrix")
    if not isinstance(cell, dict):
        return
    if report.when == "call" or report.outcome != "passed":
        if hasattr(report, "wasxfail"):
            outcome = "xfailed" if report.skipped else "xpassed"
        else:
            outcome = report.outcome
        previous = _outcomes.get(report.nodeid, {}).get("outcome")
        if previous in (None, "passed"):  # a teardown error still counts against the cell
            _outcomes[report.nodeid] = {
                **cell,
                "outcome": outcome,
                "reason": getattr(report, "wasxfail", ""),
            }


def _versions() -> dict[str, str]:
    found = {}
    for name in PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    return found


def pytest_sessionfinish(session: pytest.Session) -> None:
    target = os.environ.get(JSON_ENV)
    if not target or not (_outcomes or _hosts or _in_flight):
        return
    data = {
        "finished": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "python": f"{platform.python_implementation()} {sys.version.split()[0]}",
        "versions": _versions(),
        "cells": sorted(_outcomes.values(), key=lambda c: (c["kind"], c["app"], c["server"])),
        "hosts": sorted(_hosts.values(), key=lambda h: (h["kind"], h["server"])),
        "in_flight": sorted(_in_flight.values(), key=lambda h: h["server"]),
    }
    Path(target).write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")
