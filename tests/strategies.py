"""Hypothesis strategies for ASGI ``http`` scopes, shared by the property tests.

``scopes(header_pair, methods)`` draws scopes as ASGI servers build them:
paths under, beside (``/app`` vs ``/application``) and outside ``root_path``;
``raw_path`` absent, matching ``path``, missing the root (uvicorn's form) or
rewritten by middleware; any query bytes; repeated and mixed-case headers
(values chosen by ``header_pair``, so a test can keep them valid or not);
unix-socket servers; optional keys left out.
"""

from __future__ import annotations

import io
import itertools
import random
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from hypothesis import strategies as st

METHODS = ["GET", "HEAD", "POST", "OPTIONS", "PATCH", "PUT", "DELETE", "TRACE", "PROPFIND"]

segments = st.text(
    alphabet=st.one_of(
        st.sampled_from("abcxyz019-._~%+ "),
        st.characters(exclude_categories=("Cs",), exclude_characters="/?#"),
    ),
    max_size=6,
)
abs_paths = st.lists(segments, min_size=1, max_size=4).map(lambda s: "/" + "/".join(s))
root_paths = st.one_of(
    st.just(""),
    st.just("/"),
    abs_paths.filter(lambda p: p != "/"),
    abs_paths.filter(lambda p: p != "/").map(lambda p: p + "/"),
)
HEADER_NAMES = [
    b"host", b"Host", b"cookie", b"Cookie", b"accept", b"content-type", b"Content-Type",
    b"content-length", b"Content-Length", b"x-forwarded-for", b"X-Forwarded-For",
    b"x_forwarded_for", b":authority", b"user-agent", b"date", b"x-a", b"X-A",
]  # fmt: skip
header_names = st.one_of(
    st.sampled_from(HEADER_NAMES),
    st.text(alphabet="abcdefxyzABCXYZ0123456789-_!#$%&'*+.^`|~", min_size=1, max_size=10).map(
        lambda s: s.encode("ascii")
    ),
)
clients = st.one_of(
    st.none(), st.tuples(st.sampled_from(["127.0.0.1", "::1"]), st.integers(1, 65535))
)
servers = st.one_of(
    st.none(),
    st.tuples(st.sampled_from(["127.0.0.1", "example.org"]), st.integers(1, 65535)),
    st.tuples(st.just("/tmp/app.sock"), st.none()),
)


def quote_path(text: str) -> bytes:
    return quote(text.encode("utf-8"), safe="/:@!$&'()*+,;=-._~").encode("ascii")


def on_boundary(path: str, root_path: str) -> bool:
    root = root_path.rstrip("/")
    return not root or path == root or path.startswith(root + "/")


HeaderPair = Callable[[bytes], st.SearchStrategy[tuple[bytes, bytes]]]


@st.composite
def scopes(
    draw: st.DrawFn, header_pair: HeaderPair, methods: st.SearchStrategy[str]
) -> dict[str, Any]:
    root_path = draw(root_paths)
    root = root_path.rstrip("/")
    kind = draw(st.sampled_from(["under_root", "under_root", "other", "shared_prefix"]))
    if kind == "under_root":
        rest = draw(st.one_of(st.just(""), abs_paths))
        path = root + rest if root or rest else "/"
    elif kind == "shared_prefix":
        path = root + draw(segments.filter(bool)) + draw(st.one_of(st.just(""), abs_paths))
        if not path.startswith("/"):
            path = "/" + path
    else:
        path = draw(abs_paths)
    raw_kind = draw(st.sampled_from(["none", "full", "without_root", "rewritten"]))
    raw_path: bytes | None
    if raw_kind == "none":
        raw_path = None
    elif raw_kind == "full":
        raw_path = quote_path(path)
    elif raw_kind == "without_root" and root and path.startswith(root + "/"):
        raw_path = quote_path(path[len(root) :])
    else:
        raw_path = quote_path(draw(abs_paths))
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "method": draw(methods),
        "scheme": draw(st.sampled_from(["http", "https"])),
        "http_version": draw(st.sampled_from(["1.0", "1.1", "2"])),
        "path": path,
        "raw_path": raw_path,
        "root_path": root_path,
        "query_string": draw(st.binary(max_size=20)),
        "headers": draw(st.lists(header_names.flatmap(header_pair), max_size=12)),
        "client": draw(clients),
        "server": draw(servers),
    }
    for optional in ("raw_path", "root_path", "query_string", "client", "scheme", "http_version"):
        if draw(st.integers(0, 9)) == 0:
            del scope[optional]
    return scope


# -- requests and app behaviours for P1-P3 and P6 (issue 4 item 1) ------------------------

#: Method tokens beyond the common ones (RFC 9110 allows any token; ASGI wants uppercase).
ODD_METHODS = ["M-SEARCH", "PURGE", "BREW", "X_CUSTOM", "A", "LINK", "MKCOL", "GET2", "X.Y!"]
request_methods = st.one_of(
    st.sampled_from(METHODS),
    st.sampled_from(ODD_METHODS),
    st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-.^_`|~", min_size=1, max_size=8),
)

#: Path segments as *bytes*: reserved characters, percent signs that stay literal,
#: UTF-8 text and raw octets that are not UTF-8.
path_segments = st.one_of(
    st.sampled_from(
        [b"", b"a", b"caf\xc3\xa9", b"%2F", b"%41", b"a;b=c", b"@:!$&'()*+,=", b"\xff"]
    ),
    st.text(
        alphabet=st.characters(exclude_categories=("Cs",), exclude_characters="/?#"), max_size=5
    ).map(lambda t: t.encode("utf-8")),
    st.binary(max_size=4).map(lambda b: b.replace(b"/", b"").replace(b"?", b"")),
)
#: PATH_INFO-style byte paths: "" or "/" + segments.
byte_paths = st.one_of(
    st.just(b""),
    st.just(b"/"),
    st.lists(path_segments, min_size=1, max_size=4).map(lambda s: b"/" + b"/".join(s)),
)
#: SCRIPT_NAME-style byte roots: "" or "/seg[/seg]" (no trailing slash, PEP 3333).
byte_roots = st.one_of(
    st.just(b""),
    st.lists(path_segments.map(lambda s: s or b"x"), min_size=1, max_size=2).map(
        lambda s: b"/" + b"/".join(s)
    ),
)
#: Raw query bytes: any latin-1 octet, with the usual separators mixed in.
query_bytes = st.one_of(
    st.just(b""),
    st.binary(max_size=24).map(lambda b: b.replace(b"#", b"")),
    st.lists(
        st.sampled_from([b"a=1", b"&", b"b=%C3%A9", b"\xe9", b"x", b"=", b"+"]), max_size=6
    ).map(b"".join),
)
#: Request header names as clients send them: mixed case, repeats likely.
REQUEST_HEADER_NAMES = [
    b"Accept", b"accept", b"Cookie", b"cookie", b"X-A", b"x-a", b"User-Agent",
    b"Content-Type", b"X-Forwarded-For", b"Date", b"Authorization",
]  # fmt: skip
header_values = st.one_of(
    st.just(b""),
    st.sampled_from([b"a=1", b"b=2", b"text/plain", b"Tue, 01 Dec 2026 19:00:00 GMT"]),
    st.binary(max_size=16).map(lambda v: bytes(c for c in v if c >= 0x20 and c != 0x7F).strip()),
)
request_headers = st.lists(
    st.tuples(
        st.one_of(
            st.sampled_from(REQUEST_HEADER_NAMES),
            st.from_regex(rb"[A-Za-z][A-Za-z0-9-]{0,8}[A-Za-z0-9]", fullmatch=True).filter(
                lambda n: n.lower() not in HOP_AND_FRAMING
            ),
        ),
        header_values,
    ),
    max_size=8,
)
HOP_AND_FRAMING = {
    b"connection", b"content-length", b"transfer-encoding", b"te", b"trailer", b"upgrade",
    b"keep-alive", b"host", b"proxy-connection", b"expect",
}  # fmt: skip

#: Body sizes: mostly small, sometimes at the 64 KiB read boundaries, up to 1 MiB.
body_sizes = st.one_of(
    st.integers(0, 64),
    st.integers(0, 5000),
    st.sampled_from([0, 1, 65535, 65536, 65537, 200_000, 1 << 20]),
)


@st.composite
def bodies(draw: st.DrawFn) -> bytes:
    """Request bodies from 0 B to 1 MiB: random bytes, or text lines (for readline)."""
    size = draw(body_sizes)
    seed = draw(st.integers(0, 2**32 - 1))
    if draw(st.booleans()):
        return random.Random(seed).randbytes(size)
    line = b"line %d\n" % seed
    return (line * (size // len(line) + 1))[:size]


def split_points(data_length: int, max_parts: int = 8) -> st.SearchStrategy[list[int]]:
    """Sorted cut positions in ``[0, data_length]``; repeats give empty pieces."""
    return st.lists(st.integers(0, data_length), max_size=max_parts - 1).map(sorted)


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    """``data`` cut at ``cuts`` (pieces joined give ``data`` back; empty pieces kept)."""
    edges = [0, *cuts, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(edges)]


@dataclass
class Request:
    """One HTTP request, in the terms both sides share (bytes, as on the wire)."""

    method: str
    root: bytes  # SCRIPT_NAME / root_path bytes
    path: bytes  # PATH_INFO bytes (after the root)
    query: bytes
    headers: list[tuple[bytes, bytes]]  # names as the client spelt them
    body: bytes
    parts: list[bytes]  # the body as it arrives (http.request messages / input reads)
    with_length: bool  # Content-Length sent, else the body is chunked
    scheme: str
    http_version: str


@st.composite
def requests(draw: st.DrawFn, *, max_body: int | None = None) -> Request:
    body = draw(bodies())
    if max_body is not None:
        body = body[:max_body]
    return Request(
        method=draw(request_methods),
        root=draw(byte_roots),
        path=draw(byte_paths),
        query=draw(query_bytes),
        headers=draw(request_headers),
        body=body,
        parts=split(body, draw(split_points(len(body)))),
        with_length=draw(st.booleans()),
        scheme=draw(st.sampled_from(["http", "https"])),
        http_version=draw(st.sampled_from(["1.0", "1.1"])),
    )


@dataclass
class Reader:
    """How a WSGI app reads ``wsgi.input``: a cycle of operations, maybe stopping early."""

    ops: list[tuple[str, int]]  # ("read" | "readline", size >= 1)
    stop_after: int | None  # an early return after this many operations


readers = st.builds(
    Reader,
    ops=st.lists(
        st.tuples(
            st.sampled_from(["read", "readline"]),
            st.one_of(st.integers(1, 100), st.sampled_from([1, 8192, 65536, 1 << 20])),
        ),
        min_size=1,
        max_size=4,
    ),
    stop_after=st.one_of(st.none(), st.none(), st.integers(0, 5)),
)


def read_body(stream: Any, reader: Reader, length: int | None) -> bytes:
    """Read ``stream`` as ``reader`` says, never past ``length`` (PEP 3333), else to EOF."""
    got = bytearray()
    count = 0
    while reader.stop_after is None or count < reader.stop_after:
        op, size = reader.ops[count % len(reader.ops)]
        count += 1
        if length is not None:
            size = min(size, length - len(got))
            if size <= 0:
                break
        data = stream.read(size) if op == "read" else stream.readline(size)
        if not data:
            break
        got += data
    return bytes(got)


#: Where an app raises: never, before start_response, after it, or after the n-th chunk.
failure_points = st.one_of(
    st.none(),
    st.none(),
    st.none(),
    st.sampled_from(["before_start", "after_start"]),
    st.integers(0, 4),
)


class Boom(Exception):
    """The exception drawn apps raise at their failure point."""


RESPONSE_STATUSES = [200, 201, 204, 206, 299, 301, 304, 400, 404, 418, 451, 500, 503, 599]
_HOP = {"connection", "content-length", "transfer-encoding", "te", "trailer", "upgrade"}
#: Response header names wsgiref.validate accepts (a letter first, no "-"/"_" last).
response_header_names = st.from_regex(
    r"[A-Za-z]([A-Za-z0-9-]{0,10}[A-Za-z0-9])?", fullmatch=True
).filter(lambda s: s.lower() not in _HOP | {"keep-alive", "content-type", "status"})
response_header_values = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"),
    max_size=20,
)


@dataclass
class WsgiBehaviour:
    """A drawn WSGI app: what it reads, what it answers, how, and where it fails."""

    status: int
    reason: str
    headers: list[tuple[str, str]]
    chunks: list[bytes]
    style: str  # list | generator | write | file_wrapper
    replace_with: int | None  # exc_info replacement status, before any body
    reader: Reader | None  # None: the body is not read at all
    fail: str | int | None  # failure_points


wsgi_behaviours = st.builds(
    WsgiBehaviour,
    status=st.sampled_from(RESPONSE_STATUSES),
    reason=st.sampled_from(["OK", "Whatever", "Caf\xe9"]),
    headers=st.lists(st.tuples(response_header_names, response_header_values), max_size=6),
    chunks=st.lists(st.one_of(st.just(b""), st.binary(max_size=300)), max_size=8),
    style=st.sampled_from(["list", "generator", "write", "file_wrapper"]),
    replace_with=st.one_of(st.none(), st.none(), st.sampled_from([500, 503])),
    reader=st.one_of(st.none(), readers),
    fail=failure_points,
)

#: The PEP 3333 / CGI keys an app observes and P1/P3 compare (plus every HTTP_* key).
OBSERVED_KEYS = (
    "REQUEST_METHOD", "SCRIPT_NAME", "PATH_INFO", "QUERY_STRING", "CONTENT_TYPE",
    "CONTENT_LENGTH", "SERVER_NAME", "SERVER_PORT", "SERVER_PROTOCOL", "REMOTE_ADDR",
    "wsgi.url_scheme", "wsgi.version",
)  # fmt: skip


def observe(environ: dict[str, Any]) -> dict[str, Any]:
    """What an app sees of its environ, for comparing two runs."""
    return {k: v for k, v in environ.items() if k in OBSERVED_KEYS or k.startswith("HTTP_")}


def make_wsgi_app(b: WsgiBehaviour, seen: list[tuple[dict[str, Any], bytes]]) -> Any:
    """The WSGI app ``b`` describes; it appends ``(observe(environ), body read)`` to ``seen``."""

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        length_text = environ.get("CONTENT_LENGTH")
        length = int(length_text) if length_text else None
        if length is None and not environ.get("wsgi.input_terminated"):
            length = 0
        body = b"" if b.reader is None else read_body(environ["wsgi.input"], b.reader, length)
        seen.append((observe(environ), body))
        if b.fail == "before_start":
            raise Boom("before start_response")
        headers = list(b.headers)
        if b.status not in (204, 304):
            headers.append(("Content-Type", "application/octet-stream"))
        write = start_response(f"{b.status} {b.reason}", headers)
        if b.replace_with is not None:
            try:
                raise RuntimeError("replaced")
            except RuntimeError:
                write = start_response(
                    f"{b.replace_with} Replaced",
                    [("Content-Type", "text/plain")],
                    sys.exc_info(),
                )
        if b.fail == "after_start":
            raise Boom("after start_response")
        fail_at = b.fail if isinstance(b.fail, int) else None
        if b.style == "list":
            return list(b.chunks)
        if b.style == "write":
            for i, chunk in enumerate(b.chunks):
                if i == fail_at:
                    raise Boom(f"after {i} writes")
                write(chunk)
            return []
        if b.style == "file_wrapper":
            return environ["wsgi.file_wrapper"](io.BytesIO(b"".join(b.chunks)), 64)

        def generate() -> Iterator[bytes]:
            for i, chunk in enumerate(b.chunks):
                if i == fail_at:
                    raise Boom(f"after {i} chunks")
                yield chunk

        return generate()

    return app


@dataclass
class AsgiBehaviour:
    """A drawn ASGI app: how it reads the body, what it sends, where it fails."""

    status: int
    headers: list[tuple[bytes, bytes]]
    chunks: list[bytes]
    style: str  # body | pathsend | single (one final body message)
    read: str  # all | none | first (one receive() only)
    fail: str | int | None  # failure_points; "after_start": after http.response.start


asgi_behaviours = st.builds(
    AsgiBehaviour,
    status=st.sampled_from([s for s in RESPONSE_STATUSES if s not in (204, 304)]),
    headers=st.lists(
        st.tuples(
            response_header_names.map(lambda s: s.lower().encode()),
            response_header_values.map(lambda s: s.strip().encode("latin-1")),
        ),
        max_size=5,
    ),
    chunks=st.lists(st.one_of(st.just(b""), st.binary(max_size=300)), max_size=6),
    style=st.sampled_from(["body", "body", "pathsend", "single"]),
    read=st.sampled_from(["all", "all", "none", "first"]),
    fail=failure_points,
)


def make_asgi_app(
    b: AsgiBehaviour, seen: list[tuple[dict[str, Any], list[dict[str, Any]]]], file_path: str
) -> Any:
    """The ASGI app ``b`` describes; appends ``(scope, received messages)`` to ``seen``.

    ``file_path`` is what a pathsend response sends (its content: ``b"".join(b.chunks)``).
    """

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        received: list[dict[str, Any]] = []
        seen.append((scope, received))
        if b.read != "none":
            while True:
                message = await receive()
                received.append(message)
                if b.read == "first" or message["type"] != "http.request":
                    break
                if not message.get("more_body", False):
                    break
        if b.fail == "before_start":
            raise Boom("before http.response.start")
        headers = [(b"content-type", b"application/octet-stream"), *b.headers]
        await send({"type": "http.response.start", "status": b.status, "headers": headers})
        if b.fail == "after_start":
            raise Boom("after http.response.start")
        if b.style == "pathsend":
            await send({"type": "http.response.pathsend", "path": file_path})
            return
        if b.style == "single":
            await send({"type": "http.response.body", "body": b"".join(b.chunks)})
            return
        for i, chunk in enumerate(b.chunks):
            if i == b.fail:
                raise Boom(f"after {i} body messages")
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    return app
