"""Faults on real servers over 127.0.0.1, in both directions (issue 7 item 3).

``wsgi``: the WSGI app of tests/fault_apps.py through ``WsgiToAsgi`` on uvicorn.
``asgi``: the ASGI app through ``AsgiToWsgi`` on gunicorn (gthread, one worker
process, 4 threads); ``asgi-waitress`` the same on waitress (4 threads). Each
test takes a baseline from the server's ``/diag`` (threads, loop tasks, fds,
RSS, pymalloc blocks, measured inside the server process), makes faults
happen, and polls ``/diag`` (bounded) until everything is back. Where
the server can tell, the counters show *how* it ended: the WSGI iterable was
closed early, the ASGI task was cancelled or its ``send`` raised.
``/gate?n=N`` answers only when N requests are in the app at once, so a 200
from it proves that N worker threads are free.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fault_client import (
    STAGES,
    WORKERS,
    assert_baseline,
    cut_before_body,
    cut_mid_download,
    cut_mid_upload,
    cut_while_computing,
    diag,
    gate,
    parallel,
    payload,
    request,
    settle,
    sha,
    start,
    started,
    warm_up,
)
from servers import ServerProcess

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, ServerProcess]]:
    with started(
        ("wsgi", "asgi", "asgi-waitress"), tmp_path_factory.mktemp("fault-servers")
    ) as running:
        yield running


@pytest.fixture(params=["wsgi", "asgi", "asgi-waitress"])
def server(request: pytest.FixtureRequest, servers: dict[str, ServerProcess]) -> ServerProcess:
    return servers[request.param]


def counters(port: int) -> dict[str, Any]:
    return diag(port)


def grew(before: dict[str, Any], after: dict[str, Any], key: str) -> int:
    return int(after.get(key, 0)) - int(before.get(key, 0))


def test_client_disconnects_free_the_worker_and_leave_nothing_behind(
    server: ServerProcess,
) -> None:
    port = server.port
    base = warm_up(port)
    rounds = 3
    for _ in range(rounds):
        cut_before_body(port)
        cut_mid_upload(port)
        cut_mid_download(port)
        before = counters(port)
        cut_while_computing(
            port,
            "/compute?seconds=0.5",
            lambda before=before: grew(before, counters(port), "computing") > 0,  # type: ignore[misc]
        )
        cut_while_computing(
            port,
            "/slowstream",
            lambda before=before: grew(before, counters(port), "slow_computing") > 0,  # type: ignore[misc]
        )
    after = assert_baseline(port, base)
    log = server.log.read_text()
    # Both uploads that were cut reached the app as an error or a disconnect, never as EOF.
    # (waitress reads a whole request before it calls the app: a cut one never gets there.)
    aborted = 0 if server.name == "asgi-waitress" else 2 * rounds
    assert grew(base, after, "upload_aborted") == aborted, (after, log)
    assert grew(base, after, "computed") == rounds  # the app finished its work, then let go
    if server.name == "wsgi":
        # The download and the slow stream: iterables closed before they were exhausted.
        assert grew(base, after, "closed_early") >= 2 * rounds, after
        assert after.get("closed_twice", 0) == 0
    else:
        # The ASGI task was cancelled, or its send raised ClientDisconnected.
        ended = grew(base, after, "cancelled") + grew(base, after, "send_disconnected")
        assert ended >= 2 * rounds, after
    gate(port, WORKERS)  # every worker is free again
    assert_baseline(port, base)


def test_app_exceptions_at_every_stage_give_500_or_a_cut(server: ServerProcess) -> None:
    port = server.port
    base = warm_up(port)
    for _ in range(3):
        for stage, expected in STAGES["wsgi" if server.name == "wsgi" else "asgi"].items():
            answer = request(port, "GET", f"/error?stage={stage}")
            assert (answer.status, answer.complete) == expected, (stage, answer)
            if expected[0] == 500:
                assert b"failed" not in answer.body  # no traceback text to the client
        assert request(port, "GET", "/hello").body == b"hello"
    after = assert_baseline(port, base)
    if server.name == "wsgi":
        assert after.get("closed_twice", 0) == 0
    gate(port, WORKERS)


def test_more_requests_than_workers_queue_and_recover(server: ServerProcess) -> None:
    port = server.port
    base = warm_up(port)
    request(port, "GET", "/reset")
    # 3 * WORKERS requests that each need WORKERS of them in the app at once: they can only
    # all succeed if the pool fills, queues the rest, and frees every thread each time.
    n = WORKERS
    answers = parallel([lambda: request(port, "GET", f"/gate?n={n}")] * (3 * n))
    assert [(a.status, a.body) for a in answers] == [(200, b"gate %d" % n)] * (3 * n)
    sleepers = parallel([lambda: request(port, "GET", "/sleep?ms=50")] * (4 * n))
    assert {(a.status, a.body) for a in sleepers} == {(200, b"slept")}
    after = assert_baseline(port, base)
    assert after["max_active"] == n  # saturated, never more than the pool
    body = payload(200_000)
    assert request(port, "POST", "/echo", body).json()["sha256"] == sha(body)


@pytest.mark.parametrize("name", ["nested-wsgi", "nested-asgi"])
def test_nested_bridging_with_one_worker_never_deadlocks(name: str, tmp_path: Path) -> None:
    """``AsgiToWsgi(WsgiToAsgi(app, workers=1))`` and the reverse, many requests at once."""
    server = start(name, tmp_path)
    try:
        port = server.port
        body = payload(200_000)

        def echo() -> bool:
            answer = request(port, "POST", "/echo", body).json()
            return bool(answer == {"length": len(body), "sha256": sha(body)})

        def stream() -> bool:
            return request(port, "GET", "/stream?size=1000000").body == payload(1_000_000)

        def hello() -> bool:
            return request(port, "GET", "/hello").body == b"hello"

        assert parallel([echo, stream, hello] * 4) == [True] * 12
        base = settle(port, lambda snap: snap["active"] == 0 and snap["open_iterables"] == 0)
        # A cut download must free the one inner worker, or everything after it would hang.
        cut_mid_download(port)
        cut_mid_upload(port)
        assert parallel([echo, stream, hello] * 4) == [True] * 12
        after = assert_baseline(port, base)
        assert after["active"] == 0
    finally:
        server.stop()


@pytest.mark.parametrize("name", ["wsgi", "asgi"])
def test_server_stop_with_streams_in_flight_ends_them(name: str, tmp_path: Path) -> None:
    """SIGTERM while two slow streams run: they end (iterable closed / task ended), no SIGKILL.

    ``wsgi``: uvicorn cancels its requests after its graceful timeout, then runs
    lifespan shutdown, where WsgiToAsgi lets the worker threads close their
    iterables. ``asgi`` runs on tests/wsgiref_server.py, which calls the
    adapter's close() on SIGTERM: the app tasks are cancelled. (gunicorn's
    master SIGKILLs a worker whose requests outlive ``--graceful-timeout``.)
    """
    server = start("asgi-wsgiref" if name == "asgi" else name, tmp_path)
    port = server.port
    try:
        received: list[int] = []

        def read_stream() -> None:
            received.append(len(request(port, "GET", "/slowstream").body))

        readers = [threading.Thread(target=read_stream, daemon=True) for _ in range(2)]
        base = diag(port)
        for reader in readers:
            reader.start()
        settle(
            port, lambda snap: snap.get("slow_computing", 0) >= 2 + base.get("slow_computing", 0)
        )
    finally:
        returncode = server.stop()
    for reader in readers:
        reader.join(30)
    assert not any(r.is_alive() for r in readers), "a client still waits after the server stopped"
    assert len(received) == 2 and max(received) < 301 * 65536  # cut short (30 s in full)
    assert returncode != -9, server.log.read_text()  # it stopped by itself, without SIGKILL
    assert len(server.wait_for_marker("slow-ended", timeout=5)) == 2, server.log.read_text()
