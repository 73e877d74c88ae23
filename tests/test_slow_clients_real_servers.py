"""Issue 14 on a real ASGI server: slow uploaders do not starve WsgiToAsgi's pool.

uvicorn serves a Flask app through ``WsgiToAsgi(workers=2, body_timeout=1.0)``
(tests/slow_client_apps.py). Five clients send POST headers with a small
``Content-Length`` and one byte of body, then stall: each would hold a worker
thread in ``wsgi.input.read()`` if its body were read lazily. With pre-reading
(the default) ``/hello`` is answered meanwhile; with ``preread_size=0`` it can
only be answered once ``body_timeout`` has freed the workers, and the stalled
uploads get 408 either way. The server runs on a free port on 127.0.0.1 and is
stopped by its PID; every socket has a timeout.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from servers import ServerProcess, raw, uvicorn

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]

SLOW_UPLOADERS = 5  # more than the pool's 2 workers
TIMEOUT = 20


@pytest.fixture(scope="module", params=["small_pool", "small_pool_lazy"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, ServerProcess]]:
    process = ServerProcess(
        request.param,
        uvicorn(f"slow_client_apps:{request.param}", log_level="critical"),
        tmp_path_factory.mktemp("server"),
    )
    try:
        yield request.param, process
    finally:
        process.stop()


def stalled_upload(port: int) -> socket.socket:
    """POST headers with Content-Length 10 and one byte of body, then nothing."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    sock.sendall(
        b"POST /upload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 10\r\n"
        b"Content-Type: application/octet-stream\r\n\r\nx"
    )
    return sock


def status_of(reply: bytes) -> int:
    return int(reply.split(b" ", 2)[1])


def test_hello_is_answered_while_uploads_stall_and_they_get_408(
    server: tuple[str, ServerProcess],
) -> None:
    name, process = server
    port = process.port
    uploads = [stalled_upload(port) for _ in range(SLOW_UPLOADERS)]
    try:
        if name == "small_pool":
            # Every upload is still being received on the loop: no worker is taken,
            # so /hello is served at once, before any body_timeout has passed.
            hello = raw(port, b"GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert status_of(hello) == 200 and hello.endswith(b"hello")
            still_open = [sock for sock in uploads if _no_reply_yet(sock)]
            assert len(still_open) == SLOW_UPLOADERS  # /hello did not wait for them
        # body_timeout (1 s) ends every stalled upload with 408, freeing what it held;
        # read lazily, Flask turns the read's RequestBodyTimeout into a 500 of its own,
        # which the bridge replaces with the 408 (nothing was sent yet).
        for sock in uploads:
            reply = _read_reply(sock)
            assert status_of(reply) == 408, reply
            assert b"no request body data for 1.0 s" in reply
        hello = raw(port, b"GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert status_of(hello) == 200
        done = raw(
            port,
            b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
            b"Connection: close\r\n\r\nabc",
        )
        assert status_of(done) == 200 and done.endswith(b"got 3")
    finally:
        for sock in uploads:
            sock.close()


def _no_reply_yet(sock: socket.socket) -> bool:
    sock.setblocking(False)
    try:
        return not sock.recv(1, socket.MSG_PEEK)
    except BlockingIOError:
        return True
    finally:
        sock.settimeout(TIMEOUT)


def _read_reply(sock: socket.socket) -> bytes:
    """One response: headers, then Content-Length bytes of body (timeouts bound it)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body
