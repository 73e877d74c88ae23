"""WSGI WebSocket apps (Flask-Sock, simple-websocket) through WsgiToAsgi on real ASGI servers.

Each server (uvicorn with either WebSocket implementation, hypercorn asyncio
and trio, daphne, granian) serves each app from tests/websocket_apps.py; the
``websockets`` client checks echo (text, binary, 16 MiB), subprotocols, ping,
close codes both ways, refusal, an app failing after accept, a client cut off
mid-message (no thread or fd left behind) and 200 connections at once.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import servers
import websocket_client as wsc

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

# The pool holds one thread per live WebSocket: sized for the 200-connection test.
# /stats runs on a pool thread too, so an idle server reports one busy worker.
ENV = {"WS_WORKERS": "220"}


def granian(target: str) -> servers.Command:
    return lambda port: [
        sys.executable, "-m", "granian", "--interface", "asgi", "--host", "127.0.0.1",
        "--port", str(port), "--log-level", "warning", target,
    ]  # fmt: skip


SERVERS = {
    "uvicorn": servers.uvicorn,
    "uvicorn-wsproto": lambda target: servers.uvicorn(target, "--ws", "wsproto"),
    "hypercorn-asyncio": lambda target: servers.hypercorn(target, "asyncio"),
    "hypercorn-trio": lambda target: servers.hypercorn(target, "trio"),
    "daphne": servers.daphne,
    "granian": granian,
}
APPS = {
    "flask-sock": "websocket_apps:flask_sock_asgi",
    "simple-websocket": "websocket_apps:plain_asgi",
}
# Servers that offer the websocket.http.response extension: a refusal keeps its status.
HTTP_RESPONSE_EXTENSION = {
    "uvicorn", "uvicorn-wsproto", "hypercorn-asyncio", "hypercorn-trio", "granian",
}  # fmt: skip
# daphne (autobahn) refuses messages over 1 MiB, its default, and even with a
# larger --websocket-max-message-size a native ASGI echo drops a 4 MiB message:
# the big-message echo there stays within its limit.
BIG_MESSAGE = {"daphne": 1024 * 1024}
# daphne never sends an empty message (it tests the payload for truth).
DROPS_EMPTY = {"daphne"}
# daphne sends no close reason.
REASON_LOST = {"daphne"}
# hypercorn reports any close the client starts as 1006 to the app.
CLIENT_CODE_LOST = {"hypercorn-asyncio", "hypercorn-trio"}


@pytest.fixture(scope="module", params=[(s, a) for s in SERVERS for a in APPS], ids="-".join)
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str, str]]:
    server, app = request.param
    markers: Path = tmp_path_factory.mktemp(f"ws-{server}-{app}")
    process = servers.ServerProcess(
        f"{server}-{app}", SERVERS[server](APPS[app]), markers, ENV, ready_path="/stats"
    )
    try:
        yield server, process.url, process.url.replace("http://", "ws://")
    finally:
        process.stop()
        process.kill()


def test_echo_text_binary_and_16_mib(served: tuple[str, str, str]) -> None:
    server, _, ws_url = served
    big = BIG_MESSAGE.get(server, wsc.SIXTEEN_MIB)
    wsc.run(wsc.echo_round_trips(ws_url, big, empty=server not in DROPS_EMPTY))


def test_subprotocol_negotiation(served: tuple[str, str, str]) -> None:
    _, _, ws_url = served
    assert wsc.run(wsc.subprotocol_chosen(ws_url)) == ("chat", None)


def test_ping_is_answered(served: tuple[str, str, str]) -> None:
    _, _, ws_url = served
    wsc.run(wsc.ping_answered(ws_url))


def test_app_close_code_reaches_the_client(served: tuple[str, str, str]) -> None:
    server, _, ws_url = served
    reason = "" if server in REASON_LOST else "bye"
    assert wsc.run(wsc.app_closes(ws_url, 4001)) == (4001, reason)


def test_client_close_code_reaches_the_app(served: tuple[str, str, str]) -> None:
    server, http_url, ws_url = served
    wsc.run(wsc.client_closes(ws_url, 4002))
    seen = wsc.wait_for_stats(http_url, lambda s: s["sessions"] == 0 and s["last_close"])
    expected = 1005 if server in CLIENT_CODE_LOST else 4002
    # hypercorn hands the app 1006 (never allowed on the wire), which the bridge
    # passes on as a close frame without a code: the app reads 1005.
    assert seen["last_close"] == expected, seen


def test_refusal(served: tuple[str, str, str]) -> None:
    server, _, ws_url = served
    status = wsc.run(wsc.refused(ws_url))
    assert status == (401 if server in HTTP_RESPONSE_EXTENSION else 403)


def test_app_failing_after_accept_closes_with_1011(served: tuple[str, str, str]) -> None:
    _, _, ws_url = served
    assert wsc.run(wsc.app_fails(ws_url)) == 1011


def test_client_cut_off_mid_message_frees_the_thread(served: tuple[str, str, str]) -> None:
    server, http_url, ws_url = served
    # Warm up: a pool thread, the imports.
    wsc.run(wsc.echo_round_trips(ws_url, 1024 * 1024, empty=server not in DROPS_EMPTY))
    idle = wsc.wait_for_stats(http_url, lambda s: s["sessions"] == 0 and s["busy_workers"] == 1)
    assert idle["sessions"] == 0 and idle["busy_workers"] == 1, idle
    for _ in range(5):
        wsc.run(wsc.drop_mid_message(ws_url))
    after = wsc.wait_for_stats(
        http_url,
        lambda s: (
            s["sessions"] == 0
            and s["busy_workers"] == 1
            and s["other_threads"] <= idle["other_threads"]
            and s["fds"] <= idle["fds"]
        ),
    )
    assert after["sessions"] == 0, after
    assert after["busy_workers"] == 1, after
    assert after["other_threads"] <= idle["other_threads"], (idle, after)
    assert after["fds"] <= idle["fds"], (idle, after)


def test_200_connections_at_once(served: tuple[str, str, str]) -> None:
    _, http_url, ws_url = served
    assert wsc.run(wsc.many_at_once(ws_url, 200)) == 200
    after = wsc.wait_for_stats(http_url, lambda s: s["sessions"] == 0 and s["busy_workers"] == 1)
    assert after["sessions"] == 0 and after["busy_workers"] == 1, after
