"""An ASGI app's exceptions reach the WSGI host's log, on real hosts (issue 13 point 1, B4.5).

tests/host_exception_apps.py is served through ``AsgiToWsgi`` on gunicorn
(sync and gthread), waitress, wsgiref, werkzeug's threaded server and uWSGI
(its ``--http`` router, the same with keep-alive and auto-chunking, and
``--http-socket``). Its app raises *after* its complete response in two ways:
a Starlette route that raises (ServerErrorMiddleware sends the 500, then
raises again) and a BackgroundTask that raises after a 200; each once with a
Content-Length response and once with a StreamingResponse (chunked on the
HTTP/1.1 hosts and on uWSGI's keep-alive router, close-delimited on wsgiref
and on uWSGI's ``--http`` and ``--http-socket``, which do not chunk). For
each:

a. the client reads the whole response, strictly framed (every Content-Length
   byte, or every chunk and the ``0\\r\\n\\r\\n`` terminator, or every byte up
   to the close), from a raw socket with a timeout;
b. the server's log (its stderr and stdout, which ServerProcess writes to a
   file) holds the exception's message, under the host's own heading, as many
   times as that host logs a failing ``close()``: once on gunicorn ("Error
   handling request"), werkzeug ("Error on request") and waitress
   ("Exception while serving"); uWSGI prints it once, as a bare traceback with
   no heading of its own; wsgiref prints it from its handler and then
   again from socketserver, as the context of its handler's own TypeError
   (checked as one or two). On waitress a chunked response is the exception:
   raising from ``close()`` would lose the terminator, so the bridge logs it
   (``bridge`` logger, which the app module sends to stderr) and waitress
   does not;
d. the server answers the next request.

And an exception *before* the response (a raw ASGI app, no
ServerErrorMiddleware) gives a complete 500 and is logged exactly once, by the
bridge: these hosts do not log the ``exc_info`` handed to ``start_response``.
On uWSGI (2.0.31) the bridge hands no ``exc_info``: its ``start_response``
sets the ``exc_info`` it is given as the current exception and still returns
a value, so Python raises ``SystemError: <built-in function uwsgi_spit>
returned a result with an exception set`` in the caller (unbit/uwsgi#2278,
open), and the 500 would end after its headers (``Content-Length: 21``, no
body), the exception logged twice. A plain WSGI app passing ``exc_info``
fares the same.

uWSGI runs one worker with two threads (``--threads`` enables Python threads,
which the bridge's loop thread needs) behind a master, and is stopped by
SIGTERM to the master alone, as uWSGI is meant to be stopped: with
``--die-on-term`` the master stops its worker and router and then exits. The
uWSGI hosts skip, saying so, if the ``uwsgi`` package is not installed.

One server per host serves every case: the module-scoped fixture makes all the
requests, waiting (bounded) for each exception to reach the log before the
next request, then stops the server by PID, so the counts are final, and the
tests check what it recorded.
"""

from __future__ import annotations

import socket
import time
import uuid
from dataclasses import dataclass, field

import pytest
from host_exception_apps import body, message
from servers import UWSGI, Command, ServerProcess, gunicorn, raw, script, uwsgi, waitress

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

TARGET = "host_exception_apps:wsgi"
# One worker, two threads (which enables Python threads); request lines off.
UWSGI_OPTIONS = ("--processes", "1", "--threads", "2", "--disable-logging")
HOSTS: dict[str, Command] = {
    "gunicorn-sync": gunicorn(TARGET, "-w", "1"),
    "gunicorn-gthread": gunicorn(TARGET, "-w", "1", "-k", "gthread", "--threads", "4"),
    "waitress": waitress(TARGET, "--threads=4"),
    "wsgiref": script(TARGET, "wsgiref"),
    "werkzeug": script(TARGET, "werkzeug"),  # make_server(threaded=True), as run_simple does
    "uwsgi-http": uwsgi(TARGET, "--http", *UWSGI_OPTIONS),
    "uwsgi-http-chunked": uwsgi(
        TARGET, "--http", "--http-keepalive", "--http-auto-chunked", *UWSGI_OPTIONS
    ),
    "uwsgi-http-socket": uwsgi(TARGET, "--http-socket", *UWSGI_OPTIONS),
}
UWSGI_HOSTS = {host for host in HOSTS if host.startswith("uwsgi")}
# Hosts asked with "Connection: keep-alive" (the others with "close"): uWSGI's
# router chunks a response without Content-Length only on a kept-alive
# connection; with "close" it delimits it by the close, as plain --http does.
KEEP_ALIVE = {"uwsgi-http-chunked"}
# Hosts that end a streamed (no Content-Length) response by closing.
CLOSE_DELIMITED = {"wsgiref", "uwsgi-http", "uwsgi-http-socket"}
CASES = ["route", "background"]
LENGTHS = ["cl", "stream"]
CLIENT_TIMEOUT = 10.0
LOG_WAIT = 15.0

# What each host prints before the traceback of an exception from close().
HOST_HEADING = {
    "gunicorn-sync": b"Error handling request",
    "gunicorn-gthread": b"Error handling request",
    "waitress": b"Exception while serving",
    "wsgiref": b"Traceback (most recent call last)",
    "werkzeug": b"Error on request",
    # uWSGI prints the bare traceback (PyErr_Print), with no line of its own.
    **dict.fromkeys(UWSGI_HOSTS, b"Traceback (most recent call last)"),
}
BRIDGE_LATE = b"ASGI app raised after its response (logged here"
BRIDGE_EARLY = b"ASGI app raised before sending a response body"


def late_heading(host: str, length: str) -> bytes:
    if host == "waitress" and length == "stream":
        return BRIDGE_LATE
    return HOST_HEADING[host]


# -- a strict HTTP/1.x response parser -----------------------------------------------------


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    framing: str  # "content-length", "chunked" or "close"
    body: bytes
    complete: bool  # the framing's end arrived
    trailing: bytes  # bytes after the framed end


def parse(data: bytes) -> Reply:
    head, sep, rest = data.partition(b"\r\n\r\n")
    if not sep:
        raise AssertionError(f"no end of the headers in {data[:300]!r}")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    status = int(status_line.split()[1])
    if headers.get("transfer-encoding", "").lower() == "chunked":
        whole, complete, trailing = dechunk(rest)
        return Reply(status, headers, "chunked", whole, complete, trailing)
    if "content-length" in headers:
        size = int(headers["content-length"])
        return Reply(status, headers, "content-length", rest[:size], len(rest) >= size, rest[size:])
    return Reply(status, headers, "close", rest, True, b"")


def dechunk(data: bytes) -> tuple[bytes, bool, bytes]:
    """(body, whether the ``0\\r\\n\\r\\n`` terminator arrived, what follows it)."""
    pieces: list[bytes] = []
    pos = 0
    while True:
        eol = data.find(b"\r\n", pos)
        if eol < 0:
            return b"".join(pieces), False, data[pos:]
        size = int(data[pos:eol].split(b";")[0], 16)
        pos = eol + 2
        if size == 0:
            if data[pos : pos + 2] == b"\r\n":
                return b"".join(pieces), True, data[pos + 2 :]
            return b"".join(pieces), False, data[pos:]
        chunk = data[pos : pos + size]
        if len(chunk) < size or data[pos + size : pos + size + 2] != b"\r\n":
            return b"".join(pieces) + chunk, False, b""
        pieces.append(chunk)
        pos += size + 2


def get(port: int, path: str, token: str = "none", *, keep_alive: bool = False) -> Reply:
    """One request on a new connection. With ``Connection: close`` everything up to
    the server's close is read; with ``keep_alive``, up to the response's framed end
    (or the close, for a close-delimited response), then the client closes."""
    connection = "keep-alive" if keep_alive else "close"
    request = (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-Token: {token}\r\n"
        f"Connection: {connection}\r\n\r\n"
    ).encode()
    if not keep_alive:
        return parse(raw(port, request, timeout=CLIENT_TIMEOUT))
    data = b""
    with socket.create_connection(("127.0.0.1", port), timeout=CLIENT_TIMEOUT) as sock:
        sock.sendall(request)
        while chunk := sock.recv(65536):
            data += chunk
            if b"\r\n\r\n" in data:
                reply = parse(data)
                if reply.framing != "close" and reply.complete:
                    break
    return parse(data)


# -- one server per host, every request made up front ------------------------------------


@dataclass
class Exchange:
    token: str
    offset: int  # the log's size before the request
    reply: Reply | None = None
    error: str | None = None
    next_reply: Reply | None = None
    next_error: str | None = None
    logged: bool = False  # the message reached the log within LOG_WAIT


@dataclass
class HostRun:
    host: str
    log: bytes = b""
    exchanges: dict[str, Exchange] = field(default_factory=dict)

    def count(self, key: str) -> int:
        return self.log.count(self.message(key))

    def message(self, key: str) -> bytes:
        return message(key, self.exchanges[key].token).encode()

    def segment(self, key: str) -> bytes:
        """The log from just before the request up to the message's first appearance."""
        exchange = self.exchanges[key]
        end = self.log.find(self.message(key), exchange.offset)
        return self.log[exchange.offset : end] if end >= 0 else b""


def exchange(server: ServerProcess, key: str, path: str, *, keep_alive: bool) -> Exchange:
    token = uuid.uuid4().hex
    done = Exchange(token, server.log.stat().st_size)
    try:
        done.reply = get(server.port, path, token, keep_alive=keep_alive)
    except Exception as exc:  # recorded, and failed on by the test of this case
        done.error = repr(exc)
    try:
        done.next_reply = get(server.port, "/ok", keep_alive=keep_alive)
    except Exception as exc:
        done.next_error = repr(exc)
    # The host logs after it sent the response: wait (bounded) for this
    # request's message, so the next request's log comes after it.
    wanted = message(key, token).encode()
    deadline = time.monotonic() + LOG_WAIT
    while True:
        done.logged = wanted in server.log.read_bytes()[done.offset :]
        if done.logged or time.monotonic() > deadline:
            break
        time.sleep(0.05)  # polling the server's log file, bounded by the deadline
    return done


@pytest.fixture(scope="module", params=list(HOSTS))
def run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> HostRun:
    host: str = request.param
    if host in UWSGI_HOSTS and UWSGI is None:
        pytest.skip("uWSGI is not installed: pip install uwsgi (in the test extra)")
    markers = tmp_path_factory.mktemp(f"host-exceptions-{host}")
    server = ServerProcess(host, HOSTS[host], markers, ready_path="/ok")
    result = HostRun(host)
    keep_alive = host in KEEP_ALIVE
    try:
        for case in CASES:
            for length in LENGTHS:
                key = f"{case}-{length}"
                path = f"/{case}/{length}"
                result.exchanges[key] = exchange(server, key, path, keep_alive=keep_alive)
        # Always "close": the 500 has a Content-Length, and uWSGI's truncated one
        # (see the docstring) then ends at the close, not at the client's timeout.
        result.exchanges["early"] = exchange(server, "early", "/early", keep_alive=False)
        # By PID: after this the log is final. uWSGI: the master alone, which
        # stops the rest (ServerProcess.kill below reaps any straggler).
        server.stop(group=host not in UWSGI_HOSTS)
    finally:
        server.kill()
    result.log = server.log.read_bytes()
    return result


def describe(run: HostRun) -> str:
    return f"server log of {run.host}:\n{run.log.decode(errors='replace')}"


def assert_served_next(run: HostRun, done: Exchange) -> None:
    assert done.next_error is None, done.next_error
    assert done.next_reply is not None
    assert (done.next_reply.status, done.next_reply.body) == (200, b"ok")


# -- the tests -----------------------------------------------------------------------------


@pytest.mark.parametrize("length", LENGTHS)
@pytest.mark.parametrize("case", CASES)
def test_exception_after_the_response_is_logged_by_the_host_and_the_response_is_whole(
    run: HostRun, case: str, length: str
) -> None:
    key = f"{case}-{length}"
    done = run.exchanges[key]

    # a. the whole response, strictly framed
    assert done.error is None, f"{done.error}\n{describe(run)}"
    reply = done.reply
    assert reply is not None
    status, content = (500, body("error")) if case == "route" else (200, body("ok"))
    assert reply.status == status
    framing = (
        "content-length"
        if length == "cl"
        else "close"
        if run.host in CLOSE_DELIMITED
        else "chunked"
    )
    assert reply.framing == framing, reply.headers
    assert reply.complete, f"framing {reply.framing} did not end: {reply.body[-80:]!r}"
    assert reply.body == content
    assert reply.trailing == b""

    # b. the exception's traceback in the log, under the right heading, counted
    assert done.logged, f"{message(key, done.token)} never logged\n{describe(run)}"
    segment = run.segment(key)
    assert late_heading(run.host, length) in segment, describe(run)
    assert b"Traceback (most recent call last)" in segment, describe(run)
    if run.host == "waitress" and length == "stream":
        assert b"Exception while serving" not in segment  # the bridge logged it, waitress not
    if run.host in UWSGI_HOSTS:
        assert b"ERROR bridge" not in segment, describe(run)  # uWSGI logged it, the bridge not
    if run.host == "wsgiref":
        # wsgiref prints it from its handler; then its handle_error, which
        # close() left without an environ, fails with a TypeError, and
        # socketserver prints that with ours as its context: wsgiref's
        # behaviour, not the bridge's (which would make it three).
        assert 1 <= run.count(key) <= 2, describe(run)
    else:
        assert run.count(key) == 1, describe(run)

    # d. the server goes on serving
    assert_served_next(run, done)


def test_exception_before_the_response_is_a_whole_500_logged_once_by_the_bridge(
    run: HostRun,
) -> None:
    done = run.exchanges["early"]
    assert done.error is None, f"{done.error}\n{describe(run)}"
    reply = done.reply
    assert reply is not None
    assert reply.status == 500
    assert reply.framing == "content-length"
    assert reply.complete
    assert reply.body == b"Internal Server Error"
    assert reply.trailing == b""
    assert done.logged, describe(run)
    assert BRIDGE_EARLY in run.segment("early"), describe(run)
    assert run.count("early") == 1, describe(run)
    assert_served_next(run, done)
