"""AsgiToWsgi and the ASGI lifespan protocol (checklist B6), fork safety included."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from test_asgi_to_wsgi_guarantees import CT, run

from bridge import AsgiToWsgi

TIMEOUT = 10


class LifespanApp:
    """An ASGI app that records lifespan events and can be told how to answer them."""

    def __init__(self, startup: str = "complete", shutdown: str = "complete") -> None:
        self.startup = startup
        self.shutdown = shutdown
        self.events: list[str] = []
        self.http_calls = 0
        self.misplaced: list[type[BaseException]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            if self.startup == "raise":
                raise RuntimeError("no lifespan here")
            message = await receive()
            self.events.append(message["type"])
            scope["state"]["pid"] = os.getpid()
            if self.startup == "failed":
                await send({"type": "lifespan.startup.failed", "message": "db unreachable"})
                return
            await send({"type": "lifespan.startup.complete"})
            # B6.7: after startup, a message of the wrong phase raises and changes nothing.
            # (This used to be a lifespan.shutdown.complete sent *during* startup; since
            # checklist B6.4 was revised, that is a protocol violation which makes lifespan
            # "unsupported", see test_lifespan.py.)
            try:
                await send({"type": "lifespan.startup.complete"})
            except RuntimeError as exc:
                self.misplaced.append(type(exc))
            message = await receive()
            self.events.append(message["type"])
            if self.shutdown == "failed":
                await send({"type": "lifespan.shutdown.failed", "message": "flush failed"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
            return
        self.http_calls += 1
        state = scope.get("state")
        body = b"no state" if state is None else b"pid=%d" % state["pid"]
        await send({"type": "http.response.start", "status": 200, "headers": CT})
        await send({"type": "http.response.body", "body": body})


def test_startup_runs_once_before_requests_and_shutdown_once_on_close() -> None:
    app = LifespanApp()
    adapter = AsgiToWsgi(app)
    results: list[bytes] = []
    threads = [threading.Thread(target=lambda: results.append(run(adapter).body)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT)
    assert results == [b"pid=%d" % os.getpid()] * 4
    assert app.events == ["lifespan.startup"]
    assert app.misplaced == [RuntimeError]
    adapter.close()
    adapter.close()
    assert app.events == ["lifespan.startup", "lifespan.shutdown"]


def test_context_manager_exit_runs_shutdown() -> None:
    app = LifespanApp()
    with AsgiToWsgi(app) as adapter:
        run(adapter)
    assert app.events == ["lifespan.startup", "lifespan.shutdown"]


# Run by a fresh interpreter: one request, then the process exits with the
# adapter still open. atexit runs its handlers last-registered first, so
# report_loop_threads (registered before the adapter's own handler) runs after it.
PROCESS_EXIT_SCRIPT = """
import asyncio, atexit, threading
from bridge import AsgiToWsgi
from wsgi_driver import call_wsgi

def report_loop_threads():
    alive = [t for t in threading.enumerate() if t.name == "bridge-asgi-loop" and t.is_alive()]
    print("loop threads at exit:", len(alive), flush=True)

atexit.register(report_loop_threads)

async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        await receive()
        await send({"type": "lifespan.startup.complete"})
        print("received", (await receive())["type"], flush=True)
        for _ in range(100):
            await asyncio.sleep(0)
        print("shutdown work done", flush=True)
        await send({"type": "lifespan.shutdown.complete"})
        return
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"ok"})

adapter = AsgiToWsgi(app)
print(call_wsgi(adapter).status, flush=True)
"""


def test_process_exit_runs_shutdown_once_and_joins_the_loop_thread() -> None:
    """B6.5: at interpreter exit, without close(), shutdown is sent once and awaited,
    and the bridge's loop thread has ended."""
    tests = Path(__file__).resolve().parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tests), str(tests.parent)])}
    done = subprocess.run(
        [sys.executable, "-c", PROCESS_EXIT_SCRIPT],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "200 OK",
        "received lifespan.shutdown",
        "shutdown work done",
        "loop threads at exit: 0",
    ], done.stderr


def test_startup_failed_gives_500_with_the_message_and_never_calls_the_app(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """B6.3."""
    app = LifespanApp(startup="failed")
    with caplog.at_level(logging.ERROR, logger="bridge"), AsgiToWsgi(app) as adapter:
        first, second = run(adapter), run(adapter)
    for result in (first, second):
        assert result.status.startswith("500 ") and b"db unreachable" in result.body
    assert app.http_calls == 0
    assert "db unreachable" in caplog.text


def test_app_without_lifespan_is_served_without_state() -> None:
    app = LifespanApp(startup="raise")
    with AsgiToWsgi(app) as adapter:
        assert run(adapter).body == b"no state"
    assert app.events == []  # shutdown was never sent


def test_lifespan_on_requires_support_and_off_never_sends_it() -> None:
    with AsgiToWsgi(LifespanApp(startup="raise"), lifespan="on") as adapter:
        assert run(adapter).status.startswith("500 ")
    app = LifespanApp()
    with AsgiToWsgi(app, lifespan="off") as adapter:
        assert run(adapter).body == b"no state"
    assert app.events == []
    with pytest.raises(ValueError, match="lifespan"):
        AsgiToWsgi(app, lifespan="sometimes")


def test_shutdown_failed_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    app = LifespanApp(shutdown="failed")
    adapter = AsgiToWsgi(app)
    run(adapter)
    with caplog.at_level(logging.ERROR, logger="bridge"):
        adapter.close()
    assert "flush failed" in caplog.text


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_forked_child_gets_its_own_loop_and_lifespan() -> None:
    """B6.8: like gunicorn --preload: built and used in the parent, then used in a child."""
    app = LifespanApp()
    adapter = AsgiToWsgi(app)
    parent_pid = os.getpid()
    assert run(adapter).body == b"pid=%d" % parent_pid
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        try:
            signal.alarm(TIMEOUT)  # a hang in the child must not outlive the test
            body = run(adapter).body
            os.write(write_end, body + b"|" + ",".join(app.events).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    deadline = time.monotonic() + TIMEOUT
    status = None
    while time.monotonic() < deadline:
        pid, status = os.waitpid(child, os.WNOHANG)
        if pid:
            break
        time.sleep(0.02)  # polling the child's exit, bounded by the deadline
    else:
        os.kill(child, signal.SIGKILL)
        os.waitpid(child, 0)
        pytest.fail("the forked child did not finish")
    with os.fdopen(read_end, "rb") as pipe:
        answer = pipe.read()
    body, _, child_events = answer.partition(b"|")
    assert body == b"pid=%d" % child  # the child's own lifespan state
    assert child_events == b"lifespan.startup,lifespan.startup"  # startup ran again there
    assert run(adapter).body == b"pid=%d" % parent_pid  # the parent is untouched
    adapter.close()
    assert status == 0
