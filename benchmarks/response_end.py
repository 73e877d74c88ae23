"""When the client receives the end of its response, per WSGI host, with background work.

    python -m benchmarks.response_end                  # every host installed
    python -m benchmarks.response_end waitress wsgiref --bg 0.2 --json out.json

``AsgiToWsgi`` makes the WSGI call last, through the iterable's ``close()``,
until the ASGI app returns, so a Starlette ``BackgroundTask`` has finished when
``close()`` returns. Whether the *client* waits for it depends on when the host
sends the end of the response: before it calls ``close()``, or after.

Each host serves :func:`app` (a Starlette app through ``bridge.AsgiToWsgi``) on
a free 127.0.0.1 port, started by tests/servers.py as the real-server tests
start it, and stopped by its PID. The app has two routes, each with a
``BackgroundTask`` that sleeps ``--bg`` seconds (default 0.5):

* ``/content-length``: a ``Response`` with its body (so a ``Content-Length``);
* ``/streaming``: a ``StreamingResponse`` (no ``Content-Length``).

The background task writes when it starts and ends into the server's marker
folder. A raw-socket HTTP/1.1 client sends each request twice, on a new
connection each time: once with ``Connection: keep-alive`` and once with
``Connection: close``, and timestamps, from when it sent the request:

* the end of the body: the last ``Content-Length`` byte, the chunked
  terminator (``0\\r\\n\\r\\n``), or the end of the connection (EOF) for a body
  delimited by closing it;
* on a connection the host keeps alive: when a second request (``GET /ok``),
  sent on it as soon as the first body ended, is answered; otherwise when
  the host closes the connection (EOF).

Each time is labelled *before* or *after* the background work, by comparing it
with the middle of the background task as the app recorded it. The result is
printed as a Markdown table (and written as JSON with ``--json``). A host that
is not installed is skipped with a message. No time here is a speed
measurement: the interesting figure is whether a time is about 0 or about
``--bg``.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import platform
import socket
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.report import elapsed_log, installed_versions, not_installed

ROOT = Path(__file__).resolve().parent.parent
TARGET = "benchmarks.response_end:app"
BG_ENV = "RESPONSE_END_BG"
ROUTES = ("content-length", "streaming")
CONNECTIONS = ("keep-alive", "close")
PIECES = [b"piece %02d of the body\n" % i for i in range(8)]
BODY = b"".join(PIECES)
# Seconds a client waits, beyond the background work, for anything it expects.
CLIENT_TIMEOUT = 10.0


# -- the app (imported by the server process) ----------------------------------------------


def _mark(rid: str, what: str) -> None:
    folder = os.environ.get("MARKER_DIR")
    if folder:
        (Path(folder) / f"bg-{rid}.{what}").write_text(f"{time.time():.6f}")


def _build_app() -> Any:
    import asyncio

    from starlette.applications import Starlette
    from starlette.background import BackgroundTask
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse, Response, StreamingResponse
    from starlette.routing import Route

    from benchmarks.peers import bridge_package

    seconds = float(os.environ.get(BG_ENV, "0.5"))

    async def background(rid: str) -> None:
        _mark(rid, "start")
        await asyncio.sleep(seconds)
        _mark(rid, "end")

    def task(request: Request) -> BackgroundTask:
        return BackgroundTask(background, request.query_params.get("rid", "none"))

    async def content_length(request: Request) -> Response:
        return Response(BODY, media_type="text/plain", background=task(request))

    async def streaming(request: Request) -> Response:
        async def pieces() -> Any:
            for piece in PIECES:
                yield piece

        return StreamingResponse(pieces(), media_type="text/plain", background=task(request))

    async def ok(request: Request) -> Response:
        return PlainTextResponse("ok")

    routes = [
        Route("/content-length", content_length),
        Route("/streaming", streaming),
        Route("/ok", ok),
    ]
    return bridge_package().AsgiToWsgi(Starlette(routes=routes))


class _App:
    """The WSGI app the hosts serve, built on its first call (or ``close()``).

    A module attribute that is a plain object (uWSGI looks the name up in the
    module's dict), and importing this module needs no Starlette.
    """

    def __init__(self) -> None:
        self._app: Any = None

    def _built(self) -> Any:
        if self._app is None:
            self._app = _build_app()
        return self._app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        return self._built()(environ, start_response)

    def close(self) -> None:
        """Lifespan shutdown, for a host that closes its app on exit (tests/wsgiref_server.py)."""
        if self._app is not None:
            self._app.close()


app = _App()


# -- the hosts -----------------------------------------------------------------------------


def _servers() -> Any:
    """tests/servers.py: the launchers and ServerProcess the real-server tests use."""
    tests = str(ROOT / "tests")
    if tests not in sys.path:
        sys.path.insert(0, tests)
    import servers

    return servers


# One worker, two threads (which enables Python threads, which the bridge's loop
# thread needs); request lines off. As in tests/test_host_exceptions_real_servers.py.
UWSGI_OPTIONS = ("--processes", "1", "--threads", "2", "--disable-logging")


@dataclass(frozen=True)
class Host:
    name: str
    label: str  # as the table names it
    needs: str  # the module (or "uwsgi", the binary) it needs
    command: Callable[[Any], Any]  # servers module -> Command
    by_master: bool = False  # stop: SIGTERM to the PID alone (uWSGI's master stops the rest)


HOSTS = [
    Host("gunicorn-sync", "gunicorn `sync`", "gunicorn",
         lambda s: s.gunicorn(TARGET, "-w", "1")),
    Host("gunicorn-gthread", "gunicorn `gthread`", "gunicorn",
         lambda s: s.gunicorn(TARGET, "-w", "1", "-k", "gthread", "--threads", "4")),
    Host("waitress", "waitress", "waitress", lambda s: s.waitress(TARGET, "--threads=4")),
    Host("wsgiref", "wsgiref", "wsgiref", lambda s: s.script(TARGET, "wsgiref")),
    Host("werkzeug", "werkzeug (threaded)", "werkzeug", lambda s: s.script(TARGET, "werkzeug")),
    Host("uwsgi-http", "uWSGI `--http`", "uwsgi",
         lambda s: s.uwsgi(TARGET, "--http", *UWSGI_OPTIONS), by_master=True),
    Host("uwsgi-http-socket", "uWSGI `--http-socket`", "uwsgi",
         lambda s: s.uwsgi(TARGET, "--http-socket", *UWSGI_OPTIONS), by_master=True),
    Host("uwsgi-http-keepalive", "uWSGI `--http --http-keepalive --http-auto-chunked`", "uwsgi",
         lambda s: s.uwsgi(TARGET, "--http", "--http-keepalive", "--http-auto-chunked",
                           *UWSGI_OPTIONS), by_master=True),
]  # fmt: skip
HOST_NAMES = [host.name for host in HOSTS]


def missing(host: Host, servers: Any) -> str | None:
    """Why ``host`` cannot run here, or None."""
    if host.needs == "uwsgi":
        return None if servers.UWSGI else "uWSGI is not installed (pip install uwsgi)"
    return not_installed(host.needs)


# -- a raw HTTP/1.1 client -----------------------------------------------------------------


class Incomplete(Exception):
    """The connection ended (or the time ran out) before the response's framed end."""


@dataclass
class Reply:
    version: str
    status: int
    headers: dict[str, str]
    framing: str  # "content-length", "chunked" or "close" (delimited by the end of connection)
    body: bytes
    end: float  # monotonic time the framed end arrived


class Connection:
    """One TCP connection; every recv is timestamped, EOF (or a reset) included."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=CLIENT_TIMEOUT)
        self.buffer = b""
        self.last = 0.0  # monotonic time of the latest recv that brought bytes
        self.eof: float | None = None
        self.reset = False

    def close(self) -> None:
        self.sock.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def fill(self, deadline: float) -> bool:
        """Read once; False at EOF. Raises Incomplete past ``deadline``."""
        if self.eof is not None:
            return False
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise Incomplete("timed out")
        self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(65536)
        except TimeoutError:
            raise Incomplete("timed out") from None
        except ConnectionResetError:
            data, self.reset = b"", True
        now = time.monotonic()
        if not data:
            self.eof = now
            return False
        self.buffer += data
        self.last = now
        return True

    def wait_eof(self, deadline: float) -> float | None:
        """Monotonic time of EOF, discarding anything more; None if not by ``deadline``."""
        try:
            while self.fill(deadline):
                pass
        except Incomplete:
            return None
        return self.eof

    def _need(self, size: int, deadline: float) -> None:
        while len(self.buffer) < size:
            if not self.fill(deadline):
                raise Incomplete(f"connection closed after {self.buffer[:200]!r}")

    def _line(self, start: int, deadline: float) -> int:
        while (end := self.buffer.find(b"\r\n", start)) < 0:
            if not self.fill(deadline):
                raise Incomplete(f"connection closed after {self.buffer[:200]!r}")
        return end

    def read_reply(self, deadline: float) -> Reply:
        while (head_end := self.buffer.find(b"\r\n\r\n")) < 0:
            if not self.fill(deadline):
                raise Incomplete(f"connection closed before the headers: {self.buffer[:200]!r}")
        status_line, *lines = self.buffer[:head_end].decode("latin-1").split("\r\n")
        version, status, *_ = status_line.split(" ", 2)
        headers: dict[str, str] = {}
        for line in lines:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            value = value.strip()
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        self.buffer = self.buffer[head_end + 4 :]
        if "chunked" in headers.get("transfer-encoding", "").lower():
            body, pos = b"", 0
            while True:
                line_end = self._line(pos, deadline)
                size = int(self.buffer[pos:line_end].split(b";")[0], 16)
                if size == 0:
                    pos = line_end + 2
                    while (trailer_end := self._line(pos, deadline)) != pos:  # trailers
                        pos = trailer_end + 2
                    pos += 2
                    break
                self._need(line_end + 2 + size + 2, deadline)
                body += self.buffer[line_end + 2 : line_end + 2 + size]
                pos = line_end + 2 + size + 2
            framing = "chunked"
        elif "content-length" in headers:
            pos = int(headers["content-length"])
            self._need(pos, deadline)
            body, framing = self.buffer[:pos], "content-length"
        else:
            while self.fill(deadline):
                pass
            pos = len(self.buffer)
            body, framing = self.buffer, "close"
        # The bytes that completed the framing came with the latest recv (or the EOF).
        end = self.eof if framing == "close" and self.eof is not None else self.last
        self.buffer = self.buffer[pos:]
        return Reply(version, int(status), headers, framing, body, end)


def _persistent(reply: Reply) -> bool:
    tokens = {t.strip().lower() for t in reply.headers.get("connection", "").split(",")}
    if reply.version == "HTTP/1.1":
        return "close" not in tokens
    return "keep-alive" in tokens


@dataclass
class Exchange:
    """One request on a new connection, and what followed on that connection."""

    route: str
    connection: str  # what the client asked: "keep-alive" or "close"
    status: int | None = None
    version: str | None = None
    framing: str | None = None
    server_connection: str | None = None  # the response's Connection header
    body_ok: bool = False
    body_end: float | None = None  # seconds after the request was sent
    next_answered: float | None = None  # the second request's complete answer
    eof: float | None = None  # the host closed the connection
    bg_start: float | None = None  # the background task, as the app recorded it
    bg_end: float | None = None
    error: str | None = None
    events: list[str] = field(default_factory=list)


def exchange(port: int, route: str, connection: str, bg: float, markers: Path) -> Exchange:
    done = Exchange(route, connection)
    rid = uuid.uuid4().hex[:12]
    request = (
        f"GET /{route}?rid={rid} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Connection: {connection}\r\n\r\n"
    ).encode()
    try:
        conn = Connection(port)
    except OSError as exc:
        done.error = f"no connection: {exc!r}"
        return done
    sent_wall, sent = time.time(), time.monotonic()  # times are from here
    deadline = sent + bg + CLIENT_TIMEOUT
    try:
        conn.send(request)
        reply = conn.read_reply(deadline)
    except (Incomplete, OSError) as exc:
        done.error = f"no complete response: {exc!r}"
    else:
        done.status, done.version, done.framing = reply.status, reply.version, reply.framing
        done.server_connection = reply.headers.get("connection")
        done.body_ok = reply.status == 200 and reply.body == BODY
        done.body_end = reply.end - sent
        if connection == "keep-alive" and _persistent(reply) and conn.eof is None:
            try:
                conn.send(f"GET /ok HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
                second = conn.read_reply(deadline)
            except (Incomplete, OSError) as exc:
                done.events.append(f"second request not answered: {exc}")
            else:
                if (second.status, second.body) == (200, b"ok"):
                    done.next_answered = second.end - sent
                else:
                    done.events.append(f"second request: {second.status} {second.body!r}")
        elif conn.wait_eof(deadline) is None:
            done.events.append(f"connection still open {bg + CLIENT_TIMEOUT:g} s after")
        if conn.eof is not None:
            done.eof = conn.eof - sent
        if conn.reset:
            done.events.append("connection reset")
    finally:
        conn.close()
    # The background task's marks (bounded wait: the next request must not overlap it).
    end_mark = markers / f"bg-{rid}.end"
    limit = time.monotonic() + bg + CLIENT_TIMEOUT
    while not end_mark.exists() and time.monotonic() < limit:
        time.sleep(0.02)  # polling a file the server writes, bounded by the limit
    for what in ("start", "end"):
        mark = markers / f"bg-{rid}.{what}"
        if mark.exists() and (text := mark.read_text()):
            setattr(done, f"bg_{what}", float(text) - sent_wall)
    if done.bg_end is None:
        done.events.append("the background task did not record its end")
    time.sleep(0.1)  # let the host finish the call (close() returns after the mark)
    return done


# -- one host ------------------------------------------------------------------------------


def run_host(host: Host, bg: float, log: Callable[[str], None]) -> dict[str, Any]:
    servers = _servers()
    reason = missing(host, servers)
    if reason:
        log(f"{host.name}: skipped: {reason}")
        return {"host": host.name, "label": host.label, "skipped": reason, "exchanges": []}
    result: dict[str, Any] = {"host": host.name, "label": host.label, "skipped": None}
    with tempfile.TemporaryDirectory(prefix="response-end-") as tmp:
        markers = Path(tmp)
        try:
            server = servers.ServerProcess(
                host.name, host.command(servers), markers, env={BG_ENV: str(bg)}, ready_path="/ok"
            )
        except servers.ServerError as exc:  # it stopped the server it started
            log(f"{host.name}: did not start: {exc}")
            return {**result, "failed": str(exc).splitlines()[0], "exchanges": []}
        try:
            exchanges = []
            for route in ROUTES:
                for connection in CONNECTIONS:
                    done = exchange(server.port, route, connection, bg, markers)
                    log(f"{host.name} {route} {connection}: {_describe(done)}")
                    exchanges.append(done.__dict__)
            result["exchanges"] = exchanges
            # SIGTERM by PID: to the process group the server leads, or for uWSGI to
            # the master alone, which stops its worker and router.
            server.stop(group=not host.by_master)
            result["stopped"] = "killed" if server.killed else "terminated"
        finally:
            server.kill()  # whatever is left in the group we started (nothing, normally)
            if server.proc.poll() is None:
                result["stopped"] = "still running"
    return result


def _describe(done: Exchange) -> str:
    if done.error:
        return done.error
    parts = [f"{done.status} {done.framing}", f"body end {done.body_end:.3f} s"]
    if done.next_answered is not None:
        parts.append(f"next answered {done.next_answered:.3f} s")
    if done.eof is not None:
        parts.append(f"EOF {done.eof:.3f} s")
    if done.bg_end is not None:
        parts.append(f"background ended {done.bg_end:.3f} s")
    return ", ".join(parts + done.events)


# -- the table -----------------------------------------------------------------------------


def when(seconds: float | None, item: dict[str, Any], bg: float) -> str:
    """``0.00 s (before)`` or ``0.50 s (after)``: before or after the background work."""
    if seconds is None:
        return "—"
    if item.get("bg_start") is not None and item.get("bg_end") is not None:
        middle = (item["bg_start"] + item["bg_end"]) / 2
    else:
        middle = bg / 2
    return f"{seconds:.2f} s ({'before' if seconds < middle else 'after'})"


RESPONSES = {
    "content-length": "`Response` (Content-Length)",
    "streaming": "`StreamingResponse`",
}
FRAMING = {"content-length": "Content-Length", "chunked": "chunked", "close": "closing"}


def _framing(item: dict[str, Any]) -> str:
    if item.get("framing") is None:
        return "?"
    text = FRAMING[item["framing"]]
    return text if item.get("version") == "HTTP/1.1" else f"{text}, {item['version']}"


def _after_keep_alive(item: dict[str, Any], bg: float) -> str:
    if item.get("error"):
        return "—"
    if item.get("next_answered") is not None:
        return f"answered {when(item['next_answered'], item, bg)}"
    if item.get("eof") is not None:
        return f"closed {when(item['eof'], item, bg)}"
    return "; ".join(item.get("events") or ["—"])


def rows(results: list[dict[str, Any]], bg: float) -> list[list[str]]:
    found = []
    for result in results:
        if result.get("skipped") or result.get("failed"):
            continue
        by_key = {(x["route"], x["connection"]): x for x in result["exchanges"]}
        for route in ROUTES:
            alive, close = by_key[(route, "keep-alive")], by_key[(route, "close")]
            framings = [_framing(alive), _framing(close)]
            framing = framings[0] if framings[0] == framings[1] else " / ".join(framings)
            response = RESPONSES[route]
            found.append([
                result["label"],
                response,
                framing,
                alive.get("error") or when(alive.get("body_end"), alive, bg),
                _after_keep_alive(alive, bg),
                close.get("error") or when(close.get("body_end"), close, bg),
                when(close.get("eof"), close, bg) if close.get("eof") is not None else (
                    "; ".join(close.get("events") or ["—"])
                ),
            ])  # fmt: skip
    return found


HEADER = [
    "host",
    "response",
    "framing (keep-alive / close)",
    "end of body, keep-alive",
    "then, on that connection",
    "end of body, `Connection: close`",
    "connection closed",
]


def markdown(results: list[dict[str, Any]], bg: float) -> str:
    lines = [
        "| " + " | ".join(HEADER) + " |",
        "|" + "---|" * len(HEADER),
        *("| " + " | ".join(row) + " |" for row in rows(results, bg)),
    ]
    notes = [
        f"* {r['host']}: {'skipped' if r.get('skipped') else 'did not start'}: "
        f"{r.get('skipped') or r.get('failed')}"
        for r in results
        if r.get("skipped") or r.get("failed")
    ]
    return "\n".join(lines + (["", *notes] if notes else [])) + "\n"


def problems(results: list[dict[str, Any]]) -> list[str]:
    """What went wrong: a response not whole, a host not stopped."""
    found = []
    for result in results:
        if result.get("skipped"):
            continue
        if result.get("failed"):
            found.append(f"{result['host']}: did not start: {result['failed']}")
        if result.get("stopped") == "still running":
            found.append(f"{result['host']}: still running after the stop")
        for item in result["exchanges"]:
            if item.get("error") or not item.get("body_ok"):
                found.append(
                    f"{result['host']} {item['route']} {item['connection']}: "
                    f"{item.get('error') or 'wrong body or status'}"
                )
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.response_end", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("hosts", nargs="*", metavar="HOST", help=", ".join(HOST_NAMES))
    parser.add_argument(
        "--bg", type=float, default=0.5, help="seconds the background task sleeps (0.5)"
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.hosts) - set(HOST_NAMES))
    if unknown:
        parser.error(f"unknown hosts {unknown}; known: {', '.join(HOST_NAMES)}")
    if importlib.util.find_spec("starlette") is None:
        parser.error("Starlette is not installed (pip install starlette)")
    started = time.monotonic()

    log = elapsed_log(started)

    chosen = [host for host in HOSTS if not args.hosts or host.name in args.hosts]
    results = [run_host(host, args.bg, log) for host in chosen]
    meta = {
        "date": datetime.date.today().isoformat(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": installed_versions(
            "wsgi-asgi-bridge", "starlette", "gunicorn", "waitress", "werkzeug", "uwsgi"
        ),
        "bg": args.bg,
        "command": " ".join(["python -m benchmarks.response_end", *(argv or sys.argv[1:])]),
    }
    if args.json is not None:
        args.json.write_text(json.dumps({"meta": meta, "hosts": results}, indent=1) + "\n")
    print(markdown(results, args.bg))
    versions = ", ".join(f"{name} {version}" for name, version in meta["versions"].items())
    print(
        f"Background task: {args.bg:g} s; (before)/(after): before or after it, as the app "
        "recorded it. "
        f"{meta['date']}, Python {meta['python']}, {versions}."
    )
    trouble = problems(results)
    for line in trouble:
        log(f"problem: {line}")
    return 1 if trouble else 0


if __name__ == "__main__":
    raise SystemExit(main())
