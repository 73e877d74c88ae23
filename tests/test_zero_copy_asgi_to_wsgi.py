"""AsgiToWsgi's ``http.response.zerocopysend``, in process (tests/wsgi_driver.py).

The body is exactly the range asked for (whole file, ``offset``/``count``,
several sends mixed with ``http.response.body``); the app may close its file as
soon as ``send`` returns; no descriptor outlives a request (counted in
``/proc/self/fd``); a whole-body range goes to the host's ``wsgi.file_wrapper``
only on a host whose wrapper sends exactly that range (gunicorn and mod_wsgi:
position and ``Content-Length``; uWSGI: the whole file), and the bridge streams
it in blocks everywhere else; bad messages raise from ``send``.
"""

from __future__ import annotations

import asyncio
import io
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from wsgi_driver import call_wsgi

from bridge import AsgiToWsgi

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/fd").is_dir(), reason="counting descriptors needs /proc (Linux)"
)

Scope = dict[str, Any]
DATA = bytes(range(256)) * 4096 + b"tail"  # 1 MiB + 4: several 256 KiB blocks, an odd end
GUNICORN = {"gunicorn.socket": object()}
UWSGI = {"uwsgi.version": b"2.0.31"}


def start(length: int | None = None) -> dict[str, Any]:
    headers = [(b"content-type", b"application/octet-stream")]
    if length is not None:
        headers.append((b"content-length", str(length).encode()))
    return {"type": "http.response.start", "status": 200, "headers": headers}


def http_only(http: Callable[..., Any]) -> Callable[..., Any]:
    async def app(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            await http(scope, receive, send)

    return app


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def started(adapter: AsgiToWsgi) -> AsgiToWsgi:
    """The adapter with its loop running: the loop's own descriptors are open before counting."""
    adapter.startup()
    return adapter


@pytest.fixture
def data_path(tmp_path: Path) -> Path:
    path = tmp_path / "data.bin"
    path.write_bytes(DATA)
    return path


class HostFileWrapper:
    """A host's ``wsgi.file_wrapper`` that records what it was given, and reads it."""

    made: list[HostFileWrapper] = []

    def __init__(self, filelike: Any, blksize: int = 8192) -> None:
        self.filelike = filelike
        self.blksize = blksize
        self.position_at_start = os.lseek(filelike.fileno(), 0, os.SEEK_CUR)
        HostFileWrapper.made.append(self)

    def __iter__(self) -> Iterator[bytes]:
        while block := self.filelike.read(self.blksize):
            yield block

    def close(self) -> None:
        self.filelike.close()


@pytest.fixture(autouse=True)
def _clear_wrappers() -> None:
    HostFileWrapper.made.clear()


def zerocopy_app(
    path: Path, *messages: dict[str, Any], length: int | None = None, close_file: bool = True
) -> Callable[..., Any]:
    """Sends start, then each message, with ``file`` filled in with a file it opened
    (and closes right after the last send, as the spec asks of the app)."""

    async def http(scope: Scope, receive: Any, send: Any) -> None:
        assert scope["extensions"]["http.response.zerocopysend"] == {}
        await send(start(length))
        with path.open("rb") as file:
            for message in messages:
                with_file = message["type"] == "http.response.zerocopysend"
                await send({**message, "file": file} if with_file else message)
            if close_file:
                file.close()  # the bridge's own descriptor carries on

    return http_only(http)


def zc(**keys: Any) -> dict[str, Any]:
    return {"type": "http.response.zerocopysend", **keys}


def body(data: bytes, more: bool = True) -> dict[str, Any]:
    return {"type": "http.response.body", "body": data, "more_body": more}


# -- the bytes ---------------------------------------------------------------------------


RANGES = [
    pytest.param({}, DATA, id="whole file"),
    pytest.param({"offset": 1000}, DATA[1000:], id="offset to the end"),
    pytest.param({"count": 70_000}, DATA[:70_000], id="count from 0"),
    pytest.param({"offset": 3, "count": 600_001}, DATA[3:600_004], id="offset and count"),
    pytest.param({"offset": 5, "count": 0}, b"", id="nothing"),
    pytest.param({"offset": len(DATA)}, b"", id="offset at the end"),
]


@pytest.mark.parametrize(("keys", "expected"), RANGES)
@pytest.mark.parametrize(
    "host", [None, GUNICORN, UWSGI, {"SERVER_SOFTWARE": "waitress"}],
    ids=["no host wrapper", "gunicorn", "uwsgi", "waitress"],
)  # fmt: skip
def test_the_body_is_exactly_the_range(
    make_adapter: Callable[..., AsgiToWsgi],
    data_path: Path,
    keys: dict[str, Any],
    expected: bytes,
    host: dict[str, Any] | None,
) -> None:
    overrides = None if host is None else {"wsgi.file_wrapper": HostFileWrapper, **host}
    adapter = started(make_adapter(zerocopy_app(data_path, zc(**keys), length=len(expected))))
    before = open_fds()
    result = call_wsgi(
        adapter,
        environ_overrides=overrides,
    )
    assert result.status == "200 OK"
    assert result.body == expected
    assert open_fds() == before


def test_several_ranges_and_bodies_in_one_response(
    make_adapter: Callable[..., AsgiToWsgi], data_path: Path
) -> None:
    """zerocopysend "can be mixed with http.response.body" and "called multiple
    times": the body is the sequence, in order, whatever the host."""
    messages = [
        body(b"<head>"),
        zc(offset=10, count=300_000, more_body=True),
        body(b"<middle>"),
        zc(offset=0, count=5, more_body=True),
        zc(offset=len(DATA) - 4, more_body=True),
        body(b"<end>", more=False),
    ]
    expected = b"<head>" + DATA[10:300_010] + b"<middle>" + DATA[:5] + b"tail" + b"<end>"
    adapter = started(make_adapter(zerocopy_app(data_path, *messages)))
    for overrides in (None, {"wsgi.file_wrapper": HostFileWrapper, **GUNICORN}):
        before = open_fds()
        result = call_wsgi(adapter, environ_overrides=overrides)
        assert result.body == expected
        assert open_fds() == before
    assert HostFileWrapper.made == []  # a body of several parts is never one file


def test_a_range_without_offset_starts_at_the_position_and_moves_it(
    make_adapter: Callable[..., AsgiToWsgi], data_path: Path
) -> None:
    """Without ``offset`` the range starts at the file's position ("read from the
    current position of file"), which then moves past it, as os.sendfile without an
    offset moves it: consecutive sends continue; with an offset it stays put."""
    positions: list[int] = []

    async def http(scope: Scope, receive: Any, send: Any) -> None:
        await send(start())
        with data_path.open("rb") as file:
            file.seek(100)
            await send(zc(file=file, count=10, more_body=True))
            positions.append(file.tell())
            await send(zc(file=file, count=20, more_body=True))
            positions.append(file.tell())
            await send(zc(file=file, offset=0, count=3, more_body=True))
            positions.append(file.tell())
            await send(zc(file=file))
            positions.append(file.tell())

    result = call_wsgi(make_adapter(http_only(http)))
    assert result.body == DATA[100:130] + DATA[:3] + DATA[130:]
    assert positions == [110, 130, 130, len(DATA)]


def test_a_raw_descriptor_is_accepted(
    make_adapter: Callable[..., AsgiToWsgi], data_path: Path
) -> None:
    async def http(scope: Scope, receive: Any, send: Any) -> None:
        await send(start())
        fd = os.open(data_path, os.O_RDONLY)
        try:
            await send(zc(file=fd, offset=7, count=9))
        finally:
            os.close(fd)

    assert call_wsgi(make_adapter(http_only(http))).body == DATA[7:16]


# -- the host's wrapper: only where it sends exactly the range ----------------------------


WRAPPER_CASES = [
    # host, message keys, Content-Length, the host's wrapper is used
    pytest.param(GUNICORN, {}, len(DATA), True, id="gunicorn whole"),
    pytest.param(GUNICORN, {"offset": 9, "count": 1000}, 1000, True, id="gunicorn range"),
    pytest.param(GUNICORN, {"offset": 9}, None, True, id="gunicorn to the end, no length"),
    pytest.param(GUNICORN, {"offset": 9, "count": 1000}, None, False,
                 id="gunicorn range, no length"),  # it would send to the end
    pytest.param(GUNICORN, {"count": 1000}, 999, False, id="gunicorn length != count"),
    pytest.param({"mod_wsgi.version": (5, 0)}, {"offset": 9, "count": 1000}, 1000, True,
                 id="mod_wsgi range"),
    pytest.param(UWSGI, {}, None, True, id="uwsgi whole"),
    pytest.param(UWSGI, {"offset": 9, "count": 1000}, 1000, False,
                 id="uwsgi range"),  # uWSGI sendfiles the whole file from 0
    pytest.param({"SERVER_SOFTWARE": "waitress"}, {}, len(DATA), False, id="waitress"),
    pytest.param({}, {}, len(DATA), False, id="other host"),
]  # fmt: skip


@pytest.mark.parametrize(("host", "keys", "length", "wrapped"), WRAPPER_CASES)
def test_a_whole_body_range_goes_to_the_hosts_wrapper_only_where_it_sends_the_range(  # noqa: PLR0917
    make_adapter: Callable[..., AsgiToWsgi],
    data_path: Path,
    host: dict[str, Any],
    keys: dict[str, Any],
    length: int | None,
    wrapped: bool,
) -> None:
    offset = keys.get("offset", 0)
    expected = DATA[offset : offset + keys["count"]] if "count" in keys else DATA[offset:]
    adapter = started(make_adapter(zerocopy_app(data_path, zc(**keys), length=length)))
    before = open_fds()
    result = call_wsgi(
        adapter,
        environ_overrides={"wsgi.file_wrapper": HostFileWrapper, **host},
        validate=False,  # so the returned object is the bridge's own
    )
    assert result.body == expected
    if wrapped:
        [wrapper] = HostFileWrapper.made
        assert result.iterable is wrapper
        # A real file at the range's start: what gunicorn's sendfile starts from.
        assert wrapper.position_at_start == offset
        assert isinstance(wrapper.filelike, io.FileIO)
        assert wrapper.filelike.closed
    else:
        assert HostFileWrapper.made == []
        assert not isinstance(result.iterable, HostFileWrapper)
    assert open_fds() == before


def test_the_hosts_file_has_a_position_of_its_own(
    make_adapter: Callable[..., AsgiToWsgi], data_path: Path
) -> None:
    """The file handed to the host is opened afresh, not a dup() sharing the app's
    position: the app moving its file after send cannot move the host's range."""

    async def http(scope: Scope, receive: Any, send: Any) -> None:
        await send(start(1000))
        with data_path.open("rb") as file:
            await send(zc(file=file, offset=50, count=1000))
            file.seek(0)
            file.read(123)

    result = call_wsgi(
        make_adapter(http_only(http)),
        environ_overrides={"wsgi.file_wrapper": HostFileWrapper, **GUNICORN},
        validate=False,
    )
    [wrapper] = HostFileWrapper.made
    assert wrapper.position_at_start == 50
    assert result.body == DATA[50:1050]


# -- ending the call ----------------------------------------------------------------------


@pytest.mark.parametrize("host", [None, GUNICORN], ids=["bridge's blocks", "host's wrapper"])
def test_a_zerocopysend_response_lasts_until_the_app_returns(
    make_adapter: Callable[..., AsgiToWsgi], data_path: Path, host: dict[str, Any] | None
) -> None:
    """B4.8/B4.5 hold for a range as for pathsend: background work has finished when
    the call ends, and what it raises comes out of close()."""
    order: list[str] = []

    async def http(scope: Scope, receive: Any, send: Any) -> None:
        await send(start(len(DATA)))
        with data_path.open("rb") as file:
            await send(zc(file=file))
        await asyncio.sleep(0.05)  # the background work
        order.append("background done")
        raise LookupError("background failed")

    overrides = None if host is None else {"wsgi.file_wrapper": HostFileWrapper, **host}
    result = call_wsgi(
        make_adapter(http_only(http)),
        environ_overrides=overrides,
        validate=False,
        catch=True,
        on_chunk=lambda index, chunk: order.append("chunk") if index == 0 else None,
    )
    order.append("call ended")
    assert result.body == DATA and result.error is None
    assert order == ["chunk", "background done", "call ended"]
    assert isinstance(result.close_error, LookupError)
    assert len(HostFileWrapper.made) == (0 if host is None else 1)


def test_a_file_shorter_than_count_cuts_the_response(
    make_adapter: Callable[..., AsgiToWsgi], data_path: Path
) -> None:
    """The range is honoured exactly or not at all: a file that ends before
    ``count`` bytes makes the iterator raise, so the host cuts the connection."""
    adapter = started(make_adapter(zerocopy_app(data_path, zc(offset=len(DATA) - 10, count=100))))
    before = open_fds()
    result = call_wsgi(
        adapter,
        catch=True,
    )
    assert isinstance(result.error, RuntimeError)
    assert "90 bytes short" in str(result.error)
    assert result.body == DATA[-10:]
    assert open_fds() == before


def test_a_host_closing_early_closes_every_range(
    make_adapter: Callable[..., AsgiToWsgi], data_path: Path
) -> None:
    """The client left: the range being read and one the thread never took are closed."""
    sends: list[str] = []

    async def http(scope: Scope, receive: Any, send: Any) -> None:
        await send(start())
        with data_path.open("rb") as file:
            try:
                for _ in range(5):
                    await send(zc(file=file, offset=0, more_body=True))
                    sends.append("sent")
            finally:
                file.close()

    adapter = started(make_adapter(http_only(http)))
    before = open_fds()
    for _ in range(20):
        result = call_wsgi(adapter, close_after=2)
        assert result.closed_early
        assert result.body == DATA[: 2 * 256 * 1024]
    deadline = 50
    while open_fds() != before and deadline:  # the app's tasks end on the loop
        deadline -= 1
        time.sleep(0.02)  # polling, bounded by the count
    assert open_fds() == before


def test_no_descriptor_leaks_over_many_requests(
    make_adapter: Callable[..., AsgiToWsgi], data_path: Path
) -> None:
    adapter = started(
        make_adapter(
            zerocopy_app(data_path, zc(count=1000, more_body=True), zc(offset=5), length=None)
        )
    )
    wrapped = started(make_adapter(zerocopy_app(data_path, zc(), length=len(DATA))))
    before = open_fds()
    for _ in range(30):
        assert call_wsgi(adapter).body == DATA[:1000] + DATA[5:]
        host = {"wsgi.file_wrapper": HostFileWrapper, **GUNICORN}
        assert call_wsgi(wrapped, environ_overrides=host).body == DATA
    assert len(HostFileWrapper.made) == 30
    assert open_fds() == before


# -- bad messages ----------------------------------------------------------------------------


BAD = [
    pytest.param({"file": io.BytesIO(b"x")}, TypeError, id="no descriptor"),
    pytest.param({"file": None}, TypeError, id="no file"),
    pytest.param({"offset": -1}, ValueError, id="negative offset"),
    pytest.param({"count": "10"}, ValueError, id="count a str"),
    pytest.param({"count": True}, ValueError, id="count a bool"),
]


@pytest.mark.parametrize(("keys", "error"), BAD)
def test_a_bad_zerocopysend_raises_from_send(
    make_adapter: Callable[..., AsgiToWsgi],
    data_path: Path,
    keys: dict[str, Any],
    error: type[Exception],
) -> None:
    raised: list[BaseException] = []

    async def http(scope: Scope, receive: Any, send: Any) -> None:
        await send(start())
        with data_path.open("rb") as file:
            try:
                await send(zc(**{"file": file, **keys}))
            except Exception as exc:
                raised.append(exc)
                raise

    adapter = started(make_adapter(http_only(http)))
    before = open_fds()
    result = call_wsgi(adapter)
    assert result.status == "500 Internal Server Error"
    [exc] = raised
    assert isinstance(exc, error)
    assert "zerocopysend" in str(exc)
    assert open_fds() == before


def test_zerocopysend_before_start_raises(
    make_adapter: Callable[..., AsgiToWsgi], data_path: Path
) -> None:
    raised: list[BaseException] = []

    async def http(scope: Scope, receive: Any, send: Any) -> None:
        with data_path.open("rb") as file:
            try:
                await send(zc(file=file))
            except RuntimeError as exc:
                raised.append(exc)
                raise

    result = call_wsgi(make_adapter(http_only(http)))
    assert result.status == "500 Internal Server Error"
    assert raised and "before http.response.start" in str(raised[0])


def test_a_pipe_is_refused_clearly(make_adapter: Callable[..., AsgiToWsgi]) -> None:
    raised: list[BaseException] = []

    async def http(scope: Scope, receive: Any, send: Any) -> None:
        await send(start())
        read_end, write_end = os.pipe()
        try:
            await send(zc(file=read_end))
        except ValueError as exc:
            raised.append(exc)
            raise
        finally:
            os.close(read_end)
            os.close(write_end)

    adapter = started(make_adapter(http_only(http)))
    before = open_fds()
    result = call_wsgi(adapter)
    assert result.status == "500 Internal Server Error"
    assert raised and "seekable" in str(raised[0])
    assert open_fds() == before
