"""AsgiToWsgi's file responses on real WSGI hosts: exact bytes, the host's sendfile, no leaks.

This module is also the app the hosts serve (``test_zero_copy_real_servers:wsgi``):
a raw ASGI app through ``AsgiToWsgi``, inside a small WSGI middleware that
records what the bridge returned to the host. The app serves a 3 MiB file the
test writes into the server's marker folder, opening it for each request and
closing it as soon as its ``send`` returned (the spec makes closing it the
app's job):

* ``/whole``: one ``zerocopysend`` of the whole file, with ``Content-Length``;
* ``/range?offset=&count=``: one range, with ``Content-Length: count``;
* ``/range-nolength?offset=&count=``: the same range without it;
* ``/pieces``: bodies and ranges mixed, several ``zerocopysend`` with ``more_body``;
* ``/pathsend``: ``http.response.pathsend`` of the file.

The middleware answers ``/_last`` with what the previous response was: the
host's own ``wsgi.file_wrapper`` object (gunicorn's ``FileWrapper``; uWSGI's
wrapper returns the file itself) over a real descriptor, i.e. what the host
sendfiles, or the bridge's iterator; and ``/_fds`` with the number of open
descriptors of the worker process (``/proc/self/fd``). Every host runs one
worker process, so both describe the process that served the file.

For each host: every body is byte for byte what was asked; the host gets its
wrapper exactly where it sends the range itself (gunicorn: position plus
``Content-Length`` or to the end; uWSGI: only the whole file; waitress never,
it closes wrappers on its I/O thread; wsgiref only for ``pathsend``, as
before; werkzeug has none); and after 10 rounds of every route the worker has no
more descriptors open than before them.
"""

from __future__ import annotations

import http.client
import io
import json
import os
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from servers import UWSGI, Command, ServerProcess, gunicorn, script, uwsgi, waitress

SIZE = 3 * 1024 * 1024 + 7
FILE_NAME = "zero-copy-data.bin"
TARGET = "test_zero_copy_real_servers:wsgi"


# -- the app the hosts serve ---------------------------------------------------------------


def _data_path() -> Path:
    return Path(os.environ["MARKER_DIR"]) / FILE_NAME


def _start(length: int | None) -> dict[str, Any]:
    headers = [(b"content-type", b"application/octet-stream")]
    if length is not None:
        headers.append((b"content-length", str(length).encode()))
    return {"type": "http.response.start", "status": 200, "headers": headers}


async def _asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    path = _data_path()
    query = {k: int(v[0]) for k, v in parse_qs(scope["query_string"].decode()).items()}
    route = scope["path"]
    if route == "/pathsend":
        await send(_start(path.stat().st_size))
        await send({"type": "http.response.pathsend", "path": str(path)})
        return
    file = path.open("rb")
    try:
        if route == "/whole":
            await send(_start(path.stat().st_size))
            await send({"type": "http.response.zerocopysend", "file": file})
        elif route in ("/range", "/range-nolength"):
            end = path.stat().st_size - query.get("offset", 0)
            length = query.get("count", end) if route == "/range" else None
            await send(_start(length))
            await send({"type": "http.response.zerocopysend", "file": file, **query})
        elif route == "/pieces":
            size = path.stat().st_size
            await send(_start(None))
            for message in (
                {"type": "http.response.body", "body": b"<", "more_body": True},
                {"type": "http.response.zerocopysend", "file": file, "offset": 10,
                 "count": 300_000, "more_body": True},
                {"type": "http.response.body", "body": b"|", "more_body": True},
                {"type": "http.response.zerocopysend", "file": file, "offset": size - 4,
                 "more_body": True},
                {"type": "http.response.body", "body": b">"},
            ):  # fmt: skip
                await send(message)
        else:
            await send(_start(9))
            await send({"type": "http.response.body", "body": b"not found"})
    finally:
        file.close()  # as soon as send returned: the bridge keeps its own descriptor


class _Recorder:
    """The WSGI app: AsgiToWsgi(_asgi), recording what it handed the host."""

    def __init__(self) -> None:
        self._bridge: Any = None
        self.last: dict[str, Any] = {}

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        route = environ.get("PATH_INFO", "")
        if route in ("/_fds", "/_last"):
            if route == "/_fds":
                text = str(len(os.listdir("/proc/self/fd"))).encode()
            else:
                text = json.dumps(self.last).encode()
            start_response("200 OK", [("Content-Length", str(len(text)))])
            return [text]
        if self._bridge is None:
            from bridge import AsgiToWsgi

            self._bridge = AsgiToWsgi(_asgi, lifespan="off")
        result = self._bridge(environ, start_response)
        self.last = {"route": route, **_describe(result, environ.get("wsgi.file_wrapper"))}
        return result

    def close(self) -> None:
        if self._bridge is not None:
            self._bridge.close()


def _describe(result: Any, wrapper: Any) -> dict[str, Any]:
    """Is ``result`` the host's own file wrapper over a real descriptor (what it sendfiles)?"""
    host_wrapper = isinstance(wrapper, type) and isinstance(result, wrapper)
    # uWSGI's wsgi.file_wrapper is a function that returns the file it was given.
    file = getattr(result, "filelike", result)
    try:
        fd = file.fileno()
    except (AttributeError, OSError, ValueError):
        fd = None
    return {
        "type": f"{type(result).__module__}.{type(result).__qualname__}",
        "host_file": bool(host_wrapper or isinstance(result, io.FileIO)) and fd is not None,
    }


wsgi = _Recorder()


# -- the tests -------------------------------------------------------------------------------

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.timeout(180),
    pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc (Linux)"),
]

UWSGI_OPTIONS = ("--processes", "1", "--threads", "2", "--disable-logging")
HOSTS: dict[str, Callable[[], Command]] = {
    "gunicorn-sync": lambda: gunicorn(TARGET, "-w", "1"),
    "gunicorn-gthread": lambda: gunicorn(TARGET, "-w", "1", "-k", "gthread", "--threads", "4"),
    "waitress": lambda: waitress(TARGET, "--threads=4"),
    "wsgiref": lambda: script(TARGET, "wsgiref"),
    "werkzeug": lambda: script(TARGET, "werkzeug"),
    "uwsgi-http-socket": lambda: uwsgi(TARGET, "--http-socket", *UWSGI_OPTIONS),
    "uwsgi-http": lambda: uwsgi(TARGET, "--http", *UWSGI_OPTIONS),
}


def _routes(data: bytes) -> list[tuple[str, bytes, set[str]]]:
    """Each request, the exact body it must get, and the hosts that get their own
    wrapper over a real file for it (what gunicorn and uWSGI sendfile): gunicorn
    where its position-plus-Content-Length (or to the end) rule gives the range,
    uWSGI only for the whole file (it sends from byte 0), wsgiref only for
    pathsend (its wrapper reads in Python), werkzeug never (it has no
    ``wsgi.file_wrapper``), waitress never (it closes a wrapper on its I/O
    thread)."""
    size, both = len(data), {"gunicorn", "uwsgi"}
    return [
        ("/whole", data, both),
        ("/range?offset=12345&count=1000000", data[12345:1012345], {"gunicorn"}),
        ("/range?offset=0&count=1", data[:1], {"gunicorn"}),
        (f"/range?offset={size - 100}", data[-100:], {"gunicorn"}),
        ("/range-nolength?offset=777&count=2000000", data[777:2000777], set()),
        ("/range-nolength?offset=1048576", data[1048576:], {"gunicorn"}),
        ("/pieces", b"<" + data[10:300_010] + b"|" + data[-4:] + b">", set()),
        ("/pathsend", data, both | {"wsgiref"}),
    ]


def _get(port: int, target: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", target, headers={"Connection": "close"})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def _fds(port: int) -> int:
    status, text = _get(port, "/_fds")
    assert status == 200
    return int(text)


@pytest.mark.parametrize("host", list(HOSTS))
def test_file_responses_on_a_real_host(host: str, tmp_path: Path) -> None:
    kind = host.split("-", maxsplit=1)[0]
    if kind == "uwsgi" and UWSGI is None:
        pytest.skip("uWSGI is not installed (pip install uwsgi)")
    if kind not in {"uwsgi", "wsgiref"}:
        pytest.importorskip(kind)
    data = random.Random(15).randbytes(SIZE)
    (tmp_path / FILE_NAME).write_bytes(data)
    routes = _routes(data)
    server = ServerProcess(host, HOSTS[host](), tmp_path, ready_path="/_fds")
    try:
        port = server.port
        for target, expected, host_file in routes:  # one round: exact bytes, who sent them
            status, got = _get(port, target)
            assert (status, len(got)) == (200, len(expected)), target
            assert got == expected, target
            last = json.loads(_get(port, "/_last")[1])
            assert last["host_file"] == (kind in host_file), (target, last)
        before = _fds(port)
        for _ in range(10):
            for target, expected, _host_file in routes:
                status, got = _get(port, target)
                assert status == 200 and got == expected, target
        # Connections closed by a host's other threads may still be closing: wait, bounded.
        deadline = time.monotonic() + 10
        while (after := _fds(port)) > before and time.monotonic() < deadline:
            time.sleep(0.1)  # polling, bounded by the deadline
        assert after <= before, f"{after - before} more descriptors open after 80 responses"
        server.stop(group=kind != "uwsgi")
        assert not server.killed
    finally:
        server.kill()
