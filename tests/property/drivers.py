"""In-process servers shared by the property tests: one WSGI server, one ASGI server.

* :func:`environ_for` / :func:`scope_for` turn one drawn :class:`~strategies.Request`
  into what a WSGI server or an ASGI server would hand the app;
* :func:`serve_wsgi` is a minimal PEP 3333 server (``write()``, ``exc_info``,
  headers held until the first body byte, ``close()`` always);
* :func:`drive_asgi` is a minimal ASGI server that validates both directions with
  the P4 validator (tests/asgi_validator.py);
* the ``*_view`` helpers apply the documented normalisations (see
  docs/compatibility.md, "Documented normalisations") before two observations are compared.
"""

from __future__ import annotations

import asyncio
import io
import os
import sys
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote
from wsgiref.util import FileWrapper

from asgi_validator import AsgiValidator
from hypothesis import event
from strategies import Boom, Request

#: Per-test timeout: the ci profile's few hundred examples fit in 120 s; thorough gets an hour.
PROPERTY_TIMEOUT = 120 if os.environ.get("HYPOTHESIS_PROFILE", "ci") == "ci" else 3600

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade"}


class PartsInput(io.RawIOBase):
    """A socket-like raw stream: each read returns at most the rest of the current piece."""

    def __init__(self, parts: list[bytes]) -> None:
        super().__init__()
        self.parts = [p for p in parts if p]

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if not self.parts:
            return 0
        part = self.parts[0]
        n = min(len(buffer), len(part))
        buffer[:n] = part[:n]
        if n == len(part):
            self.parts.pop(0)
        else:
            self.parts[0] = part[n:]
        return n


def environ_for(r: Request) -> dict[str, Any]:
    """The environ a WSGI server builds for ``r`` (chunked bodies: input_terminated)."""
    environ: dict[str, Any] = {
        "REQUEST_METHOD": r.method,
        "SCRIPT_NAME": r.root.decode("latin-1"),
        "PATH_INFO": r.path.decode("latin-1"),
        "QUERY_STRING": r.query.decode("latin-1"),
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "8080",
        "SERVER_PROTOCOL": "HTTP/" + r.http_version,
        "REMOTE_ADDR": "127.0.0.1",
        "REMOTE_PORT": "40000",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": r.scheme,
        "wsgi.input": io.BufferedReader(PartsInput(r.parts)),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "wsgi.file_wrapper": FileWrapper,
    }
    if r.with_length:
        environ["CONTENT_LENGTH"] = str(len(r.body))
    else:
        environ["HTTP_TRANSFER_ENCODING"] = "chunked"
        environ["wsgi.input_terminated"] = True
    for name, value in r.headers:
        text = value.decode("latin-1")
        key = name.decode("latin-1").upper().replace("-", "_")
        key = key if key == "CONTENT_TYPE" else "HTTP_" + key
        if key in environ:
            environ[key] += ("; " if key == "HTTP_COOKIE" else ",") + text
        else:
            environ[key] = text
    return environ


@dataclass
class WsgiOutcome:
    status: int | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    error: type[BaseException] | None = None  # raised after the body began
    failed_early: bool = False  # raised before any body byte (a server sends 500)
    #: handed to start_response with exc_info before any body byte (the response replaced)
    reported: type[BaseException] | None = None
    #: raised by the iterable's close() after the body (issue 13: AsgiToWsgi raises an
    #: exception its app raised after the complete response from there)
    close_error: type[BaseException] | None = None


def serve_wsgi(app: Any, environ: dict[str, Any]) -> WsgiOutcome:
    """A minimal PEP 3333 server for one request, with write() and exc_info."""
    out = WsgiOutcome()
    state: dict[str, Any] = {"sent": False}
    pending: dict[str, Any] = {}
    chunks: list[bytes] = []

    def emit(data: bytes) -> None:
        if data:
            if not state["sent"]:
                state["sent"] = True
                out.status, out.headers = int(pending["status"][:3]), pending["headers"]
            chunks.append(data)

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        if exc_info is not None:
            if state["sent"]:
                raise exc_info[1].with_traceback(exc_info[2])
            out.reported = type(exc_info[1])
        pending["status"], pending["headers"] = status, headers
        return emit

    try:
        result = app(environ, start_response)
    except Boom as exc:
        if state["sent"]:  # after write()s
            out.error = type(exc)
        else:
            out.failed_early = True
        out.body = b"".join(chunks)
        return out
    try:
        for data in result:
            emit(data)
        if not state["sent"]:
            out.status, out.headers = int(pending["status"][:3]), pending["headers"]
    except Boom as exc:
        if state["sent"]:
            out.error = type(exc)
        else:
            out.failed_early = True
    finally:
        try:
            getattr(result, "close", lambda: None)()
        except Exception as exc:
            out.close_error = type(exc)
    out.body = b"".join(chunks)
    return out


def note_classes(r: Request, style: str, fail: object, outcome: str) -> None:
    """Hypothesis events, so --hypothesis-show-statistics shows what was covered."""
    size = len(r.body)
    event("body " + ("0" if not size else "<64K" if size < 65536 else ">=64K"))
    event("style " + style)
    event(
        "fail " + ("none" if fail is None else "at chunk" if isinstance(fail, int) else str(fail))
    )
    event("outcome " + outcome)


def environ_view(observed: dict[str, Any]) -> dict[str, Any]:
    """N10: an empty CONTENT_TYPE or CONTENT_LENGTH is not passed on."""
    return {
        k: v
        for k, v in observed.items()
        if not (k in ("CONTENT_TYPE", "CONTENT_LENGTH") and v == "")
    }


def normalised(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """N1 (names lowercased) and N11 (spaces and tabs around a value stripped)."""
    return sorted(
        (k.lower(), v.strip(" \t"))
        for k, v in headers
        if k.lower() not in HOP_BY_HOP | {"content-length"}
    )


def scope_for(r: Request) -> dict[str, Any]:
    """The scope an ASGI server builds for ``r``."""
    root = r.root.decode("utf-8", "replace")
    path_bytes = r.root + r.path
    headers = [(name.lower(), value) for name, value in r.headers]
    if r.with_length:
        headers.append((b"content-length", str(len(r.body)).encode()))
    else:
        headers.append((b"transfer-encoding", b"chunked"))
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": r.http_version,
        "method": r.method,
        "scheme": r.scheme,
        "path": path_bytes.decode("utf-8", "replace"),
        "raw_path": quote(path_bytes, safe="/:@!$&'()*+,;=-._~").encode("ascii"),
        "root_path": root,
        "query_string": r.query,
        "headers": headers,
        "client": ("127.0.0.1", 40000),
        "server": ("testserver", 8080),
        "extensions": {"http.response.pathsend": {}},
    }


@dataclass
class AsgiOutcome:
    status: int | None
    headers: list[tuple[bytes, bytes]]
    body: bytes
    complete: bool
    error: type[BaseException] | None
    sent: list[dict[str, Any]]  # every message the app sent, in order


async def drive_asgi(app: Any, scope: dict[str, Any], parts: list[bytes]) -> AsgiOutcome:
    """Drive ``app`` as an ASGI server would, validating both directions."""
    incoming = [
        {"type": "http.request", "body": p, "more_body": i < len(parts) - 1}
        for i, p in enumerate(parts)
    ]
    validator_ = AsgiValidator(scope)
    sent: list[dict[str, Any]] = []
    finished = asyncio.Event()

    async def receive() -> dict[str, Any]:
        if incoming:
            return incoming.pop(0)
        await finished.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    checked_receive, checked_send = validator_.wrap(receive, send)
    error: type[BaseException] | None = None
    try:
        await asyncio.wait_for(app(scope, checked_receive, checked_send), 60)
    except Boom as exc:
        error = type(exc)
    except RuntimeError as exc:
        if str(exc) != "replaced":  # only the strategies' exc_info replacement is expected
            raise
        error = type(exc)  # issue 13: raised after the replaced response went out whole
        validator_.finish()
    finished.set()
    if error is None:
        validator_.finish()
    body = b""
    for message in sent[1:]:
        if message["type"] == "http.response.pathsend":
            with open(message["path"], "rb") as file:
                body += file.read()
        else:
            body += message.get("body", b"")
    start = sent[0] if sent else {}
    return AsgiOutcome(
        start.get("status"), start.get("headers", []), body, validator_.complete, error, sent
    )


def scope_view(scope: dict[str, Any]) -> dict[str, Any]:
    """The scope keys compared; headers joined per name (N7)."""
    joined: dict[bytes, bytes] = {}
    for name, value in scope["headers"]:
        if b"_" in name or name.startswith(b":"):
            continue
        sep = b"; " if name == b"cookie" else b","
        joined[name] = joined[name] + sep + value if name in joined else value
    return {
        "type": scope["type"],
        "method": scope["method"],
        "scheme": scope["scheme"],
        "http_version": scope["http_version"],
        "path": scope["path"],
        "raw_path": scope["raw_path"],
        "root_path": scope["root_path"],
        "query_string": scope["query_string"],
        "headers": sorted(
            (k, v)
            for k, v in joined.items()
            if v or k not in (b"content-type", b"content-length")  # N10
        ),
        "client": tuple(scope["client"]),
        "server": tuple(scope["server"]),
    }


def body_of(received: list[dict[str, Any]]) -> tuple[bytes, bool]:
    """The request bytes and whether the last http.request said more_body=False."""
    data = b"".join(m.get("body", b"") for m in received if m["type"] == "http.request")
    requests_ = [m for m in received if m["type"] == "http.request"]
    return data, bool(requests_) and not requests_[-1].get("more_body", False)
