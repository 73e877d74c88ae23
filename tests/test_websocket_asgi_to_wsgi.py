"""ASGI WebSocket endpoints (Starlette, FastAPI) through AsgiToWsgi on real WSGI hosts.

gunicorn's gthread worker (``gunicorn.socket``) and Werkzeug's threaded server
(``werkzeug.socket``) hand the connection over; the ``websockets`` client checks
echo (text, binary, 16 MiB), subprotocols, ping, close codes both ways,
refusal (403), an app failing after accept (1011), a client cut off
mid-message (the host thread is freed, no fd left), 200 connections at once
and lifespan state in the scope. waitress, wsgiref and mod_wsgi expose no socket: an
upgrade there gets 501 and the app never sees a scope.
"""

from __future__ import annotations

import http.client
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import servers
import websocket_client as wsc

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

SERVERS = {
    # One host thread per live WebSocket: sized for the 200-connection test.
    "gunicorn-gthread": lambda target: servers.gunicorn(
        target, "-k", "gthread", "--threads", "220", "--timeout", "120"
    ),
    "werkzeug": lambda target: servers.script(target, "werkzeug"),
}
APPS = {"starlette": "websocket_apps:starlette_wsgi", "fastapi": "websocket_apps:fastapi_wsgi"}


@pytest.fixture(scope="module", params=[(s, a) for s in SERVERS for a in APPS], ids="-".join)
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str, str]]:
    server, app = request.param
    markers: Path = tmp_path_factory.mktemp(f"ws-{server}-{app}")
    process = servers.ServerProcess(
        f"{server}-{app}", SERVERS[server](APPS[app]), markers, ready_path="/stats"
    )
    try:
        yield app, process.url, process.url.replace("http://", "ws://")
    finally:
        process.stop()
        process.kill()


def test_echo_text_binary_and_16_mib(served: tuple[str, str, str]) -> None:
    _, _, ws_url = served
    wsc.run(wsc.echo_round_trips(ws_url))


def test_subprotocol_negotiation(served: tuple[str, str, str]) -> None:
    _, _, ws_url = served
    assert wsc.run(wsc.subprotocol_chosen(ws_url)) == ("chat", None)


def test_ping_is_answered(served: tuple[str, str, str]) -> None:
    _, _, ws_url = served
    wsc.run(wsc.ping_answered(ws_url))


def test_app_close_code_reaches_the_client(served: tuple[str, str, str]) -> None:
    _, _, ws_url = served
    assert wsc.run(wsc.app_closes(ws_url, 4001)) == (4001, "bye")


def test_client_close_code_reaches_the_app(served: tuple[str, str, str]) -> None:
    _, http_url, ws_url = served
    wsc.run(wsc.client_closes(ws_url, 4002))
    seen = wsc.wait_for_stats(http_url, lambda s: s["sessions"] == 0 and s["last_close"])
    assert seen["last_close"] == 4002, seen


def test_close_before_accept_is_403(served: tuple[str, str, str]) -> None:
    _, _, ws_url = served
    assert wsc.run(wsc.refused(ws_url)) == 403


def test_unknown_route_is_refused(served: tuple[str, str, str]) -> None:
    _, _, ws_url = served
    assert wsc.run(wsc.refused(ws_url, "/nowhere")) == 403


def test_app_failing_after_accept_closes_with_1011(served: tuple[str, str, str]) -> None:
    _, _, ws_url = served
    assert wsc.run(wsc.app_fails(ws_url)) == 1011


def test_lifespan_state_reaches_the_websocket_scope(served: tuple[str, str, str]) -> None:
    _, _, ws_url = served

    async def read_state() -> str:
        async with wsc.connect(f"{ws_url}/state") as ws:
            return str(await ws.recv())

    assert wsc.run(read_state()) == "yes"


def test_client_cut_off_mid_message_frees_the_thread(served: tuple[str, str, str]) -> None:
    _, http_url, ws_url = served
    wsc.run(wsc.echo_round_trips(ws_url, 1024 * 1024))  # warm up
    idle = wsc.wait_for_stats(http_url, lambda s: s["sessions"] == 0 and s["hijacked_threads"] == 0)
    assert idle["sessions"] == 0 and idle["hijacked_threads"] == 0, idle
    for _ in range(5):
        wsc.run(wsc.drop_mid_message(ws_url))
    after = wsc.wait_for_stats(
        http_url,
        lambda s: (
            s["sessions"] == 0
            and s["hijacked_threads"] == 0
            and s["other_threads"] <= idle["other_threads"]
            and s["fds"] <= idle["fds"]
        ),
    )
    assert after["sessions"] == 0, after
    assert after["hijacked_threads"] == 0, after
    assert after["other_threads"] <= idle["other_threads"], (idle, after)
    assert after["fds"] <= idle["fds"], (idle, after)
    assert after["last_close"] == 1006, after


def test_200_connections_at_once(served: tuple[str, str, str]) -> None:
    _, http_url, ws_url = served
    assert wsc.run(wsc.many_at_once(ws_url, 200)) == 200
    after = wsc.wait_for_stats(
        http_url, lambda s: s["sessions"] == 0 and s["hijacked_threads"] == 0
    )
    assert after["sessions"] == 0 and after["hijacked_threads"] == 0, after


# -- hosts that cannot carry a WebSocket -----------------------------------------------

UPGRADE_HEADERS = {
    "Upgrade": "websocket",
    "Connection": "Upgrade",
    "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
    "Sec-WebSocket-Version": "13",
}
NO_SOCKET_HOSTS: dict[str, Callable[[str, Path], servers.Command]] = {
    "waitress": lambda target, markers: servers.waitress(target),
    "wsgiref": lambda target, markers: servers.script(target, "wsgiref"),
    # One daemon process, so that /stats counts every connect.
    "mod_wsgi": lambda target, markers: servers.mod_wsgi_express(
        target, markers / "apache", "--processes", "1", "--threads", "4"
    ),
}


@pytest.mark.parametrize("host", NO_SOCKET_HOSTS)
def test_upgrade_on_a_host_without_a_socket_is_501(host: str) -> None:
    # Apache's daemon processes (as nobody, when the test runs as root) write here too.
    markers = Path(tempfile.mkdtemp(prefix=f"ws-{host}-"))
    markers.chmod(0o777)
    try:
        if host == "mod_wsgi" and (blocker := servers.mod_wsgi_blocker(markers)):
            pytest.skip(blocker)
        _check_501(host, markers)
    finally:
        shutil.rmtree(markers, ignore_errors=True)


def _check_501(host: str, markers: Path) -> None:
    command = NO_SOCKET_HOSTS[host]("websocket_apps:starlette_wsgi", markers)
    process = servers.ServerProcess(
        host, command, markers, ready_path="/stats", startup_seconds=60
    )
    try:
        # http.client, not the websockets client: wsgiref answers HTTP/1.0.
        conn = http.client.HTTPConnection("127.0.0.1", process.port, timeout=wsc.TIMEOUT)
        try:
            conn.request("GET", "/echo", headers=UPGRADE_HEADERS)
            response = conn.getresponse()
            body = response.read()
        finally:
            conn.close()
        assert response.status == 501, (response.status, body)
        assert b"cannot carry a WebSocket" in body
        assert wsc.stats(process.url)["connects"] == 0  # the app never saw a scope
    finally:
        process.stop()
        process.kill()


# -- gunicorn's sync worker: one connection per process at a time ------------------------


def test_gunicorn_sync_worker_carries_a_websocket(tmp_path: Path) -> None:
    command = servers.gunicorn("websocket_apps:starlette_wsgi", "-k", "sync", "--timeout", "60")
    process = servers.ServerProcess("gunicorn-sync", command, tmp_path, ready_path="/stats")
    try:
        ws_url = process.url.replace("http://", "ws://")
        wsc.run(wsc.echo_round_trips(ws_url, 1024 * 1024))
        assert wsc.run(wsc.app_closes(ws_url, 4001)) == (4001, "bye")
        wsc.run(wsc.client_closes(ws_url, 4002))
        seen = wsc.wait_for_stats(process.url, lambda s: s["last_close"] == 4002)
        assert seen["last_close"] == 4002, seen
        assert wsc.run(wsc.refused(ws_url)) == 403
    finally:
        process.stop()
        process.kill()


# -- uWSGI: no socket in the environ, but uwsgi.connection_fd() -----------------------

UWSGI_LISTEN = {
    # The workers speak HTTP themselves.
    "http-socket": ("--http-socket",),
    # uWSGI's HTTP router in front passes a WebSocket through only when told to.
    "http-router": ("--http", "--http-websockets"),
}


@pytest.mark.parametrize("listen", UWSGI_LISTEN)
def test_uwsgi_carries_a_websocket(listen: str, tmp_path: Path) -> None:
    if servers.UWSGI is None:
        pytest.skip("uWSGI is not installed (pip install uwsgi)")
    first, *more = UWSGI_LISTEN[listen]
    command = servers.uwsgi("websocket_apps:starlette_wsgi", first, *more, "--threads", "8")
    process = servers.ServerProcess(f"uwsgi-{listen}", command, tmp_path, ready_path="/stats")
    try:
        ws_url = process.url.replace("http://", "ws://")
        wsc.run(wsc.echo_round_trips(ws_url))
        assert wsc.run(wsc.subprotocol_chosen(ws_url)) == ("chat", None)
        wsc.run(wsc.ping_answered(ws_url))
        assert wsc.run(wsc.app_closes(ws_url, 4001)) == (4001, "bye")
        wsc.run(wsc.client_closes(ws_url, 4002))
        seen = wsc.wait_for_stats(process.url, lambda s: s["last_close"] == 4002)
        assert seen["last_close"] == 4002, seen
        assert wsc.run(wsc.refused(ws_url)) == 403
        assert wsc.run(wsc.app_fails(ws_url)) == 1011
        idle = wsc.wait_for_stats(
            process.url, lambda s: s["sessions"] == 0 and s["hijacked_threads"] == 0
        )
        for _ in range(3):
            wsc.run(wsc.drop_mid_message(ws_url))
        after = wsc.wait_for_stats(
            process.url,
            lambda s: s["sessions"] == 0 and s["hijacked_threads"] == 0 and s["fds"] <= idle["fds"],
        )
        assert after["sessions"] == 0 and after["hijacked_threads"] == 0, after
        assert after["fds"] <= idle["fds"], (idle, after)
    finally:
        process.stop()
        process.kill()
