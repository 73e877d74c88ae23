"""P3 (issue 4): round trips through both bridges change nothing but the documented normalisations.

* ``AsgiToWsgi(WsgiToAsgi(w, workers=1))`` is compared with ``w``, both served
  the same drawn environ by the same little WSGI server (behind
  ``wsgiref.validate`` on both sides of the nest);
* ``WsgiToAsgi(AsgiToWsgi(a), workers=1)`` is compared with ``a``, both driven
  with the same drawn scope and ``http.request`` messages.

Between the two bridges every message passes the P4 ASGI validator
(tests/asgi_validator.py), and every environ the inner WsgiToAsgi builds passes
``wsgiref.validate``. Compared: status, header multiset, body bytes, where the
response failed, and what the inner app observed (its PEP 3333 environ keys and
the body it read; or its scope keys and the bytes ``receive()`` gave it).

Documented normalisations (also in docs/compatibility.md, "Documented normalisations"):

N1. Response header names come out lowercased (ASGI carries lowercase names).
N2. A response whose body is known in full (a list or tuple, or an ASGI app
    whose first body message is its last) gains a ``content-length`` header;
    not for HEAD, 204 or 304.
N3. The reason phrase is not carried: ASGI has only the status code, so the
    WSGI side gets ``http.HTTPStatus``'s phrase (``"NNN Unknown"`` for codes it
    does not know).
N4. A failure before the first body byte becomes ``500 Internal Server Error``
    (``text/plain``, sent with ``exc_info``), as a WSGI server answers an app
    that raises before its headers went out; a failure after the body began
    ends the response without completing it, on both sides.
N5. Empty body chunks are not sent, and chunk boundaries are not kept: the
    body bytes are the same, split differently.
N6. WSGI round trip: a request header that was repeated reaches the inner app
    as one comma-joined ``HTTP_*`` value (``"; "`` for Cookie) - exactly what a
    WSGI server gives the outer app too.
N10. An empty ``CONTENT_TYPE`` (or ``CONTENT_LENGTH``) is not passed on: the
    inner app sees the key absent, as for a request without that header.
N7. ASGI round trip, scope: repeated request headers arrive joined into one
    header (``,``; ``"; "`` for cookie) in first-seen order, ``content-type`` and
    ``content-length`` first; header names containing ``_`` and pseudo-headers
    are dropped; ``asgi.spec_version`` becomes ``"2.4"``; ``extensions`` lists
    what AsgiToWsgi implements (``http.response.pathsend``); a
    ``wsgi_environ`` key is added.
N8. ASGI round trip, receive(): the body arrives in ``chunk_size`` (64 KiB)
    reads of the WSGI input, not in the client's pieces; a request without a
    body is one empty ``http.request``.
N9. ASGI round trip: ``http.response.pathsend`` reaches the outer server as
    ``http.response.body`` messages carrying the file's bytes (WsgiToAsgi
    streams ``wsgi.file_wrapper``; it does not advertise pathsend).
"""

from __future__ import annotations

import asyncio
import io
import os
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote
from wsgiref.util import FileWrapper
from wsgiref.validate import validator

import pytest
from asgi_validator import AsgiValidator, validating_app
from hypothesis import event, example, given
from strategies import (
    AsgiBehaviour,
    Boom,
    Request,
    WsgiBehaviour,
    asgi_behaviours,
    make_asgi_app,
    make_wsgi_app,
    requests,
    wsgi_behaviours,
)

from bridge import AsgiToWsgi, WsgiToAsgi

pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.filterwarnings("ignore::wsgiref.validate.WSGIWarning"),
]

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade"}


# -- the WSGI side ---------------------------------------------------------------------


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
        if exc_info is not None and state["sent"]:
            raise exc_info[1].with_traceback(exc_info[2])
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
        getattr(result, "close", lambda: None)()
    out.body = b"".join(chunks)
    return out


class Dispatch:
    """One AsgiToWsgi(WsgiToAsgi(...)) nest for the whole module; the inner app is swapped."""

    def __init__(self) -> None:
        self.app: Any = None
        self.validators: list[AsgiValidator] = []
        inner = WsgiToAsgi(self.call, workers=1)
        self.nest = AsgiToWsgi(validating_app(inner, self.validators), lifespan="off")

    def call(self, environ: dict[str, Any], start_response: Any) -> Any:
        return self.app(environ, start_response)


@pytest.fixture(scope="module")
def wsgi_nest() -> Iterator[Dispatch]:
    dispatch = Dispatch()
    yield dispatch
    dispatch.nest.close()


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
    return sorted(
        (k.lower(), v) for k, v in headers if k.lower() not in HOP_BY_HOP | {"content-length"}
    )


@given(requests(), wsgi_behaviours)
@example(
    Request("GET", b"", b"/", b"", [], b"", [b""], True, "http", "1.1"),
    WsgiBehaviour(200, "OK", [], [b"a", b"", b"b"], "generator", None, None, 1),
)
@example(  # a SCRIPT_NAME that is not UTF-8 came back doubled: "/\xef\xbf\xbd" + "/\x80"
    Request("GET", b"/\x80", b"", b"", [], b"", [b""], False, "http", "1.0"),
    WsgiBehaviour(200, "OK", [], [], "list", None, None, None),
)
def test_p3_wsgi_app_through_both_bridges(
    wsgi_nest: Dispatch, r: Request, b: WsgiBehaviour
) -> None:
    seen_direct: list[tuple[dict[str, Any], bytes]] = []
    seen_bridged: list[tuple[dict[str, Any], bytes]] = []
    direct = serve_wsgi(validator(make_wsgi_app(b, seen_direct)), environ_for(r))
    wsgi_nest.app = validator(make_wsgi_app(b, seen_bridged))
    wsgi_nest.validators.clear()
    bridged = serve_wsgi(validator(wsgi_nest.nest), environ_for(r))

    # What the inner app observed: the same environ keys and the same body.
    assert len(seen_bridged) == len(seen_direct) == 1
    assert seen_bridged[0][0] == environ_view(seen_direct[0][0])  # N10
    assert seen_bridged[0][1] == seen_direct[0][1]
    assert len(wsgi_nest.validators) == 1  # every ASGI message in between was validated

    note_classes(
        r, b.style, b.fail, "500" if direct.failed_early else "cut" if direct.error else "ok"
    )
    if direct.failed_early:  # N4
        assert bridged.status == 500 and not bridged.failed_early
        assert bridged.body == b"Internal Server Error"
        return
    assert bridged.status == direct.status
    assert bridged.error is direct.error
    assert bridged.body == direct.body
    assert normalised(bridged.headers) == normalised(direct.headers)  # N1, N2


def test_split_path_takes_a_non_utf8_root_from_the_raw_path() -> None:
    """Regression (found by P3): root_path "/\ufffd" for raw b"/%80/x" gave SCRIPT_NAME
    "/\xef\xbf\xbd" and PATH_INFO "/\x80/x", the root twice over."""
    from bridge._environ import split_path

    assert split_path("/\ufffd/x", "/\ufffd", b"/%80/x") == ("/\x80", "/x")
    assert split_path("/\ufffd", "/\ufffd/", b"/%80") == ("/\x80", "")
    assert split_path("/a/\ufffd", "/a", b"/a/%80") == ("/a", "/\x80")


# -- the ASGI side ---------------------------------------------------------------------


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
        start.get("status"), start.get("headers", []), body, validator_.complete, error
    )


@pytest.fixture(scope="module")
def file_path() -> Iterator[str]:
    fd, path = tempfile.mkstemp(prefix="p3-pathsend-")
    os.close(fd)
    yield path
    os.unlink(path)


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


@given(requests(), asgi_behaviours)
def test_p3_asgi_app_through_both_bridges(file_path: str, r: Request, b: AsgiBehaviour) -> None:
    with open(file_path, "wb") as file:
        file.write(b"".join(b.chunks))
    seen_direct: list[Any] = []
    seen_bridged: list[Any] = []
    validators: list[AsgiValidator] = []
    direct = asyncio.run(
        drive_asgi(make_asgi_app(b, seen_direct, file_path), scope_for(r), r.parts)
    )
    inner = AsgiToWsgi(
        validating_app(make_asgi_app(b, seen_bridged, file_path), validators), lifespan="off"
    )
    try:
        bridged = asyncio.run(
            drive_asgi(WsgiToAsgi(validator(inner), workers=1), scope_for(r), r.parts)
        )
    finally:
        inner.close()

    assert len(seen_direct) == len(seen_bridged) == 1 == len(validators)
    (d_scope, d_received), (b_scope, b_received) = seen_direct[0], seen_bridged[0]
    assert scope_view(b_scope) == scope_view(d_scope)  # N7
    d_body, d_done = body_of(d_received)
    b_body, b_done = body_of(b_received)
    if b.read == "all":
        assert b_body == d_body == r.body and b_done and d_done  # N8
    elif b.read == "first":
        assert d_body.startswith(b_body) or b_body.startswith(d_body)  # N8: other chunking

    early = direct.error is not None and not direct.body
    note_classes(r, b.style, b.fail, "500" if early else "cut" if direct.error else "ok")
    if early:  # N4: failed before any body byte
        assert bridged.body in {b"", b"Internal Server Error"}
        assert (bridged.error is Boom and bridged.status is None) or (
            bridged.error is None and bridged.status == 500 and bridged.complete
        )
        return
    assert bridged.status == direct.status
    assert bridged.error is direct.error
    assert bridged.complete == direct.complete
    assert bridged.body == direct.body  # N5, N9
    assert sorted(h for h in bridged.headers if h[0] != b"content-length") == sorted(
        h for h in direct.headers if h[0] != b"content-length"
    )
