"""Lifespan shutdown runs where atexit does not: multiprocessing children, mod_wsgi.

granian's workers are ``multiprocessing`` children: they end with ``os._exit()``,
which skips ``atexit``, so the bridge also registers its exit hook with
``multiprocessing.util`` (bridge/_hosts.py). The real host is in the matrix
(``granian-wsgi``); here a forked child starts an adapter's lifespan and
returns, and its shutdown must have run.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import types
from pathlib import Path
from typing import Any

import pytest

from bridge import AsgiToWsgi


def _lifespan_app(markers: Path) -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "lifespan"
        while True:
            message = await receive()
            step = message["type"].split(".")[1]  # startup or shutdown
            (markers / f"{step}.{os.getpid()}").write_text(step)
            await send({"type": f"lifespan.{step}.complete"})
            if step == "shutdown":
                return

    return app


def _child(adapter: AsgiToWsgi) -> None:
    adapter.startup()  # the loop thread and lifespan startup, in this child


@pytest.mark.timeout(60)
def test_a_multiprocessing_child_runs_lifespan_shutdown_at_exit(tmp_path: Path) -> None:
    with AsgiToWsgi(_lifespan_app(tmp_path), shutdown_timeout=10) as adapter:
        child = multiprocessing.get_context("fork").Process(target=_child, args=(adapter,))
        child.start()
        child.join(30)
        assert child.exitcode == 0
        assert (tmp_path / f"startup.{child.pid}").exists()
        assert (tmp_path / f"shutdown.{child.pid}").exists()
        # The parent's adapter never started here: the child's exit left it alone.
        assert not list(tmp_path.glob(f"*.{os.getpid()}"))


def test_under_mod_wsgi_shutdown_runs_from_its_shutdown_event(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In a mod_wsgi sub-interpreter atexit comes too late (the loop thread no longer
    runs), so the bridge subscribes to mod_wsgi's process shutdown event; a stand-in
    module plays mod_wsgi's (the real host is the matrix's mod_wsgi-subinterpreter)."""
    subscribed: list[Any] = []
    embedded = types.ModuleType("mod_wsgi")
    embedded.subscribe_shutdown = subscribed.append  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "mod_wsgi", embedded)
    adapter = AsgiToWsgi(_lifespan_app(tmp_path), shutdown_timeout=10)
    assert len(subscribed) == 1
    adapter.startup()
    assert (tmp_path / f"startup.{os.getpid()}").exists()
    subscribed[0]("process_stopping", shutdown_reason="shutdown_signal")
    assert (tmp_path / f"shutdown.{os.getpid()}").exists()
    with pytest.raises(RuntimeError, match="closed"):
        adapter.startup()
