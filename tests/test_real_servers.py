"""Both bridges on real servers over 127.0.0.1 (issue 2 item 9, issue 3 item 9).

Each server runs in its own process group on a free port, is asked real HTTP
questions with httpx or a raw socket, and is stopped by its PID. Apps live in
tests/real_apps.py; they leave marker files in MARKER_DIR for what only the
server process can see (a generator closed, lifespan ran, a background task).
"""

from __future__ import annotations

import hashlib
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from servers import (
    ServerProcess,
    body_pieces,
    gunicorn,
    hypercorn,
    raw,
    script,
    uvicorn,
    waitress,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]

COMMANDS = {
    "uvicorn": uvicorn("real_apps:flask_asgi"),
    "hypercorn-trio": hypercorn("real_apps:flask_asgi", "trio"),
    "hypercorn-asyncio": hypercorn("real_apps:flask_asgi", "asyncio"),
    "gunicorn-gthread": gunicorn("real_apps:fastapi_wsgi", "-k", "gthread", "--threads", "4"),
    "gunicorn-preload": gunicorn(
        "real_apps:fastapi_wsgi", "--preload", "-w", "2", "-k", "gthread", "--threads", "2"
    ),
    "waitress": waitress("real_apps:fastapi_wsgi"),
    "wsgiref": script("real_apps:fastapi_wsgi"),
}


class Server(ServerProcess):
    def __init__(self, name: str, markers: Path) -> None:
        super().__init__(name, COMMANDS[name], markers)


@pytest.fixture
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Server]:
    running = Server(request.param, tmp_path)
    try:
        yield running
    finally:
        running.stop()


def upload(total: int, piece: int = 65536) -> Iterator[bytes]:
    """A deterministic body, sent without Content-Length (chunked)."""
    return body_pieces(total, piece, b"seed")


def digest(total: int) -> str:
    return hashlib.sha256(b"".join(upload(total))).hexdigest()


ASGI_SERVERS = ["uvicorn", "hypercorn-trio", "hypercorn-asyncio"]
WSGI_SERVERS = ["gunicorn-gthread", "gunicorn-preload", "waitress", "wsgiref"]


@pytest.mark.parametrize("server", ASGI_SERVERS, indirect=True)
def test_flask_through_wsgi_to_asgi(server: Server) -> None:
    size = 10 * 1024 * 1024
    with httpx.Client(base_url=server.url, timeout=30) as client:
        assert client.get("/").text == "hello from flask"
        streamed = client.post("/echo", content=upload(size))  # chunked, no Content-Length
        assert streamed.json() == {"length": size, "sha256": digest(size)}
        whole = b"".join(upload(1024 * 1024))
        sized = client.post("/echo", content=whole)
        assert sized.json() == {"length": len(whole), "sha256": hashlib.sha256(whole).hexdigest()}
        stream = client.get("/stream")
        assert stream.text == "".join(f"chunk {i}\n" for i in range(50))
        headers = client.get(
            "/headers?q=%C3%A9&x=1",
            headers=[("X-Multi", "a"), ("X-Multi", "b"), ("Cookie", "a=1")],
        ).json()
        assert headers == {
            "path": "/headers",
            "query": "q=%C3%A9&x=1",
            "x_multi": "a,b",
            "cookie": "a=1",
        }


@pytest.mark.parametrize("server", ASGI_SERVERS, indirect=True)
def test_client_disconnect_mid_stream_closes_the_flask_generator(server: Server) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"GET /endless HTTP/1.1\r\nHost: test\r\n\r\n")
        received = 0
        while received < 256 * 1024:
            data = sock.recv(65536)
            assert data, "the server closed the stream before the client did"
            received += len(data)
    assert server.wait_for_marker("endless-closed"), server.log.read_text()


WEBSOCKET_HANDSHAKE = (
    b"GET /ws HTTP/1.1\r\nHost: test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


def test_websocket_handshake_to_a_plain_wsgi_app_gets_its_response(tmp_path: Path) -> None:
    """A1.3 on a real server: a WSGI app that does not speak WebSocket answers the upgrade
    with a plain response; the bridge refuses the WebSocket with it (uvicorn offers
    websocket.http.response), never a 101. (WebSockets that work: tests/test_websocket_*.py.)

    limit_apps:w2a is a WsgiToAsgi app that imports no framework: uvicorn starts fast.
    """
    server = ServerProcess("uvicorn-websocket", uvicorn("limit_apps:w2a"), tmp_path)
    try:
        answer = raw(server.port, WEBSOCKET_HANDSHAKE, timeout=10)
    finally:
        server.stop()
    assert answer.split(b"\r\n", 1)[0].startswith(b"HTTP/1.1 200"), answer
    assert answer.endswith(b"\r\n\r\nok"), answer


@pytest.mark.parametrize("server", WSGI_SERVERS, indirect=True)
def test_fastapi_through_asgi_to_wsgi(server: Server) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        pids = set()
        for _ in range(6):
            hello = client.get("/", headers={"Connection": "close"}).json()
            assert hello["lifespan_pid"] == hello["pid"]  # startup ran in this very process
            pids.add(hello["pid"])
        assert all(server.markers.glob(f"startup.{pid}") for pid in pids)
        whole = b"".join(upload(3 * 1024 * 1024))
        echoed = client.post("/echo", content=whole).json()
        assert echoed == {"length": len(whole), "sha256": hashlib.sha256(whole).hexdigest()}
        if server.name != "wsgiref":  # wsgiref cannot read chunked request bodies at all
            size = 2 * 1024 * 1024
            chunked = client.post("/echo", content=upload(size)).json()
            assert chunked == {"length": size, "sha256": digest(size)}
        uploaded = client.post("/upload", files={"file": ("data.bin", whole[:500_000])}).json()
        assert uploaded == {
            "name": "data.bin",
            "length": 500_000,
            "sha256": hashlib.sha256(whole[:500_000]).hexdigest(),
        }
        stream = client.get("/stream")
        assert stream.text == "".join(f"event {i}\n" for i in range(50))
        assert client.get("/background").json() == {"scheduled": "yes"}
    assert server.wait_for_marker("background")


@pytest.mark.parametrize("server", ["gunicorn-gthread", "wsgiref"], indirect=True)
def test_lifespan_shutdown_runs_when_the_server_stops(server: Server) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        assert client.get("/").status_code == 200
    server.stop()
    assert server.wait_for_marker("shutdown", timeout=5), server.log.read_text()
