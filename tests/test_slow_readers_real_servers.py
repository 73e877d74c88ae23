"""Issue 14 on a real ASGI server: slow readers do not hold WsgiToAsgi's workers.

uvicorn serves a Flask app through ``WsgiToAsgi(workers=2)``
(tests/slow_client_apps.py). Three clients, more than the pool's two workers,
each ask for a 32 MiB download with a 16 KiB receive buffer and then stop
reading, so each response stalls once loopback's socket buffers are full. The
app records how far each download's generator got. With the default
``pin_response_thread=False`` the stalled responses hold no worker: ``/hello``
and ``/progress`` are answered meanwhile and show the downloads stopped part-way,
their generators still open. Then the clients read on, and every download
arrives whole and is closed. The server runs on a free 127.0.0.1 port and is
stopped by its PID; every socket has a timeout and every loop a bound.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
from servers import ServerProcess, raw, uvicorn
from slow_client_apps import CHUNK, DOWNLOAD_CHUNKS

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

STALLED = 3  # more than the pool's 2 workers
TIMEOUT = 30
LENGTH = DOWNLOAD_CHUNKS * len(CHUNK)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = ServerProcess(
        "small_pool",
        uvicorn("slow_client_apps:small_pool", log_level="critical"),
        tmp_path_factory.mktemp("server"),
    )
    try:
        yield process
    finally:
        process.stop()


def get(port: int, path: str) -> bytes:
    request = b"GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % path.encode()
    reply = raw(port, request)
    assert reply.startswith(b"HTTP/1.1 200"), reply[:200]
    return reply.partition(b"\r\n\r\n")[2]


def progress(port: int, key: int) -> tuple[int, str]:
    count, state = get(port, f"/progress?id={key}").split()
    return int(count), state.decode()


def stalled_download(port: int, key: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
    sock.settimeout(TIMEOUT)
    sock.connect(("127.0.0.1", port))
    sock.sendall(b"GET /download?id=%d HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % key)
    return sock


def read_all(sock: socket.socket) -> int:
    """Read the response to its end; the body's length."""
    data = b""
    while b"\r\n\r\n" not in data:
        part = sock.recv(65536)
        assert part, data
        data += part
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    received = len(body)
    for _ in range(LENGTH):  # bounded: each recv returns at least one byte
        part = sock.recv(1 << 20)
        if not part:
            break
        received += len(part)
    return received


def test_stalled_downloads_hold_no_worker_and_complete_whole(server: ServerProcess) -> None:
    port = server.port
    socks = [stalled_download(port, key) for key in range(STALLED)]
    try:
        # Wait (bounded) until every download's generator has stopped advancing:
        # its client's buffers are full. Answered at all, /progress shows that the
        # two workers are not held by the three stalled responses.
        last: list[tuple[int, str]] = []
        for _ in range(200):
            now = [progress(port, key) for key in range(STALLED)]
            if now == last and all(count > 0 for count, _ in now):
                break
            last = now
            time.sleep(0.05)
        else:
            pytest.fail(f"the downloads never settled: {last}")
        for count, state in last:
            assert 0 < count < DOWNLOAD_CHUNKS and state == "open"
        assert get(port, "/hello") == b"hello"
        for sock in socks:
            assert read_all(sock) == LENGTH
        for key in range(STALLED):
            assert progress(port, key) == (DOWNLOAD_CHUNKS, "closed")
    finally:
        for sock in socks:
            sock.close()
