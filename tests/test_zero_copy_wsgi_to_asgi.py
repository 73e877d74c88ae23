"""Issue 15, item 3: WsgiToAsgi hands a ``wsgi.file_wrapper`` response to the server whole.

When the ASGI server offers ``http.response.pathsend`` or
``http.response.zerocopysend`` (scope ``extensions``), a file response over a
real file goes out as one such message after ``http.response.start``, so the
server can ``sendfile()`` it; everything else (no extension, a pipe or
``BytesIO``, a file no longer at its name, a short file, ``HEAD``) streams in
blocks as before. In-process with a scripted server side, then on granian,
which offers pathsend.
"""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from asgi_client import Client, serve
from asgi_scope import http_scope

from bridge import WsgiToAsgi
from bridge._wsgi_to_asgi import PATHSEND, ZEROCOPYSEND, file_message

Message = dict[str, Any]
SIZE = 300_000
BOTH = {PATHSEND: {}, ZEROCOPYSEND: {}}


@pytest.fixture
def data_file(tmp_path: Path) -> Path:
    path = tmp_path / "data.bin"
    path.write_bytes(bytes(range(256)) * (SIZE // 256) + b"x" * (SIZE % 256))
    return path


class FileApp:
    """Returns ``wsgi.file_wrapper`` over ``open(path)``, sought to ``offset``."""

    def __init__(self, path: Path, *, offset: int = 0, length: int | None = None) -> None:
        self.path = path
        self.offset = offset
        self.length = length
        self.files: list[Any] = []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        handle = open(self.path, "rb")  # noqa: SIM115 - closed by the wrapper's close()
        handle.seek(self.offset)
        self.files.append(handle)
        headers = [("Content-Type", "application/octet-stream")]
        if self.length is not None:
            headers.append(("Content-Length", str(self.length)))
        start_response("200 OK", headers)
        return environ["wsgi.file_wrapper"](handle, 8192)


class FileServer(Client):
    """A scripted server side that offers ``extensions`` and plays the file messages.

    It reads a pathsend's path or a zerocopysend's file (from ``offset``,
    ``count`` bytes, with ``os.pread``) into :attr:`body_bytes` during ``send``,
    as a server would, and notes whether the file was still open then.
    """

    def __init__(self) -> None:
        super().__init__()
        self.body_bytes = b""
        self.open_during_send: list[bool] = []

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == PATHSEND:
            self.body_bytes += Path(message["path"]).read_bytes()
        elif kind == ZEROCOPYSEND:
            handle = message["file"]
            self.open_during_send.append(not handle.closed)
            self.body_bytes += os.pread(handle.fileno(), message["count"], message["offset"])
        elif kind == "http.response.body":
            self.body_bytes += message.get("body", b"")
        await super().send(message)

    @property
    def types(self) -> list[str]:
        return [m["type"] for m in self.sent]


async def run(app: Any, extensions: dict[str, Any], **scope: Any) -> FileServer:
    server = FileServer()
    await serve(WsgiToAsgi(app), server, extensions=extensions, **scope)
    return server


@pytest.mark.anyio
async def test_a_whole_file_goes_out_as_pathsend(data_file: Path) -> None:
    app = FileApp(data_file, length=SIZE)
    server = await run(app, {PATHSEND: {}})
    assert server.types == ["http.response.start", PATHSEND]
    assert server.sent[1]["path"] == str(data_file)
    assert server.body_bytes == data_file.read_bytes()
    assert app.files[0].closed  # close() ran before the ASGI call ended


@pytest.mark.anyio
async def test_zerocopysend_gets_the_open_file_from_its_position(data_file: Path) -> None:
    """A file sought past its start: not pathsend (the whole file), zerocopysend from
    the position, for the declared length; the file is open while the server reads it."""
    app = FileApp(data_file, offset=1000, length=5000)
    server = await run(app, BOTH)
    assert server.types == ["http.response.start", ZEROCOPYSEND]
    message = server.sent[1]
    assert (message["offset"], message["count"]) == (1000, 5000)
    assert message.get("more_body", False) is False  # the spec's default: the last message
    assert server.body_bytes == data_file.read_bytes()[1000:6000]
    assert server.open_during_send == [True]
    assert app.files[0].closed


@pytest.mark.anyio
async def test_without_content_length_zerocopysend_runs_to_the_end(data_file: Path) -> None:
    server = await run(FileApp(data_file, offset=10), {ZEROCOPYSEND: {}})
    assert server.sent[1]["count"] == SIZE - 10
    assert server.body_bytes == data_file.read_bytes()[10:]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("offset", "length", "extensions", "why"),
    [
        (0, SIZE, {}, "the server offers neither extension"),
        (7, SIZE - 7, {PATHSEND: {}}, "pathsend sends the whole file, not from its position"),
        (0, 100, {PATHSEND: {}}, "pathsend cannot send part of the file"),
        (0, SIZE, {"http.response.trailers": {}}, "an unrelated extension"),
    ],
)
async def test_what_no_offered_message_can_send_is_streamed(
    data_file: Path, offset: int, length: int, extensions: dict[str, Any], why: str
) -> None:
    app = FileApp(data_file, offset=offset, length=length)
    server = await run(app, extensions)
    assert PATHSEND not in server.types and ZEROCOPYSEND not in server.types, why
    assert server.body_bytes == data_file.read_bytes()[offset : offset + length]
    assert server.complete and app.files[0].closed


@pytest.mark.anyio
async def test_head_is_streamed_as_before(data_file: Path) -> None:
    server = await run(FileApp(data_file, length=SIZE), BOTH, method="HEAD")
    assert PATHSEND not in server.types and ZEROCOPYSEND not in server.types


@pytest.mark.anyio
async def test_a_short_file_is_streamed_and_logged(
    data_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Content-Length larger than the file: the server must not be told a length the
    file cannot fill; streamed, the short response is logged as for any iterable."""
    with caplog.at_level(logging.ERROR, logger="bridge"):
        server = await run(FileApp(data_file, length=SIZE + 10), BOTH)
    assert ZEROCOPYSEND not in server.types and PATHSEND not in server.types
    assert "10 bytes fewer" in caplog.text


def test_file_message_refuses_what_is_not_a_regular_file_at_its_name(data_file: Path) -> None:
    assert file_message(io.BytesIO(b"abc"), None, frozenset(BOTH)) is None
    read_end, write_end = os.pipe()
    with os.fdopen(read_end, "rb") as pipe, os.fdopen(write_end, "wb"):
        assert file_message(pipe, None, frozenset(BOTH)) is None
    with open(data_file, "rb") as handle:
        moved = data_file.with_name("moved.bin")
        data_file.rename(moved)
        data_file.write_bytes(b"another file at the old name")
        # The name now leads to another inode: pathsend would send the wrong file.
        assert file_message(handle, None, frozenset({PATHSEND})) is None
        message = file_message(handle, None, frozenset(BOTH))
        assert message is not None and message["type"] == ZEROCOPYSEND
        assert message["count"] == SIZE
    with open(data_file, "rb") as handle:
        assert file_message(handle, None, frozenset()) is None
        assert file_message(handle, None, frozenset({PATHSEND})) == {
            "type": PATHSEND,
            "path": str(data_file),
        }


@pytest.mark.anyio
async def test_a_client_gone_during_the_file_send_closes_the_file(data_file: Path) -> None:
    app = FileApp(data_file, length=SIZE)

    class Gone(FileServer):
        async def send(self, message: Message) -> None:
            if message["type"] == ZEROCOPYSEND:
                raise OSError("the client went away")
            await super().send(message)

    server = Gone()
    with anyio.fail_after(10):
        await WsgiToAsgi(app)(
            http_scope(extensions={ZEROCOPYSEND: {}}), server.receive, server.send
        )
    for _ in range(400):  # bounded: the worker closes the file once it sees the end
        if app.files and app.files[0].closed:
            break
        await anyio.sleep(0.005)
    assert app.files[0].closed


@pytest.mark.anyio
async def test_flask_send_file_goes_out_as_pathsend(data_file: Path) -> None:
    from flask import Flask, send_file

    flask_app = Flask(__name__)

    @flask_app.get("/")
    def index() -> Any:
        return send_file(data_file, mimetype="application/octet-stream")

    server = await run(flask_app, {PATHSEND: {}})
    assert server.types == ["http.response.start", PATHSEND]
    headers = dict(server.sent[0]["headers"])
    assert headers[b"content-length"] == str(SIZE).encode()
    assert server.body_bytes == data_file.read_bytes()


# -- on granian, which offers pathsend -----------------------------------------------------


@pytest.fixture(scope="module")
def granian_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    pytest.importorskip("granian", reason="granian is not installed (pip install granian)")
    from servers import PY, ServerProcess

    def command(port: int) -> list[str]:
        return [PY, "-m", "granian", "--interface", "asgi", "--host", "127.0.0.1",
                "--port", str(port), "--workers", "1", "zero_copy_apps:recorded"]  # fmt: skip

    folder = tmp_path_factory.mktemp("granian")
    process = ServerProcess("granian", command, folder, ready_path="/sent")
    try:
        yield process
    finally:
        process.stop()


@pytest.mark.e2e
@pytest.mark.timeout(120)
def test_flask_send_file_on_granian_is_sent_by_the_server(granian_server: Any) -> None:
    import http.client

    from zero_copy_apps import FILE_SIZE

    conn = http.client.HTTPConnection("127.0.0.1", granian_server.port, timeout=30)
    try:
        for _ in range(3):
            conn.request("GET", "/file")
            response = conn.getresponse()
            body = response.read()
            assert response.status == 200
            assert len(body) == FILE_SIZE and body == bytes(range(256)) * (FILE_SIZE // 256)
        conn.request("GET", "/sent")
        sent = conn.getresponse().read().decode().split()
    finally:
        conn.close()
    assert sent.count(PATHSEND) == 3
    assert "http.response.body" not in sent[: sent.index(PATHSEND)]


def test_a_streamed_regular_file_is_read_in_large_blocks(data_file: Path) -> None:
    """Without pathsend or zerocopysend: werkzeug's 8 KiB ``blksize`` would cost a trip
    through the bridge per 8 KiB; a regular file is read FILE_BLOCK_SIZE at a time. A
    stream that is not a regular file keeps the app's block size (a larger read of a
    pipe would wait for more data)."""
    from bridge._wsgi_to_asgi import FILE_BLOCK_SIZE, FileWrapper

    with open(data_file, "rb") as handle:
        blocks = list(FileWrapper(handle, 8192))
    assert [len(b) for b in blocks[:-1]] == [FILE_BLOCK_SIZE] * (len(blocks) - 1)
    assert b"".join(blocks) == data_file.read_bytes()
    stream = io.BytesIO(b"y" * 20000)
    assert [len(b) for b in FileWrapper(stream, 8192)] == [8192, 8192, 3616]


@pytest.mark.anyio
@pytest.mark.parametrize("offered", [PATHSEND, ZEROCOPYSEND])
async def test_a_round_trip_hands_the_file_on(data_file: Path, offered: str) -> None:
    """``WsgiToAsgi(AsgiToWsgi(app))`` (N9): Starlette's FileResponse sends pathsend;
    AsgiToWsgi gives WsgiToAsgi's file wrapper the file, which goes on to the server
    in front as one pathsend or zerocopysend, whichever it offers."""
    from starlette.responses import FileResponse

    from bridge import AsgiToWsgi

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            await FileResponse(data_file)(scope, receive, send)

    inner = AsgiToWsgi(app, lifespan="off")
    try:
        server = FileServer()
        await serve(WsgiToAsgi(inner), server, extensions={offered: {}})
    finally:
        inner.close()
    assert server.types == ["http.response.start", offered]
    assert server.body_bytes == data_file.read_bytes()
