"""The one corpus of requests every matrix cell replays, and how answers compare.

Each :class:`Item` is sent on a fresh ``http.client`` connection (so a server
that misreads one request cannot spoil the next), and the answer is kept as a
:class:`Answer`: status, header list (repeats and order kept) and body bytes.
:func:`comparable` turns an answer into what must be equal natively and through
the bridge; :data:`IGNORED_HEADERS` lists what it leaves out and why.
"""

from __future__ import annotations

import hashlib
import http.client
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import servers

from .apps import _common as app_common

UPLOAD_SIZE = 5 * 1024 * 1024
CHUNKED_SIZE = 1024 * 1024
PIECE = 64 * 1024
SMALL_BODY = "ünïcode body\n".encode() * 100
REQUEST_TIMEOUT = 60.0

# Headers the comparison leaves out. Each is chosen by the server, not by the
# app or the bridge, so it legitimately differs between two servers.
IGNORED_HEADERS = {
    "date": "the time of the answer",
    "server": "the server's own name",
    "connection": "connection management is the server's (keep-alive or close)",
    "keep-alive": "connection management is the server's",
    "transfer-encoding": "framing: a server may chunk a body the app did not size",
    "content-length": (
        "framing: a server may add it to a body the app did not size (waitress does for a "
        "one-chunk body); the body bytes are compared instead, and a declared length must "
        "match them (http.client enforces it); for HEAD the header is compared when both "
        "sides send it"
    ),
}
# The one change made to bodies before they are compared.
BODY_NORMALISATION = (
    "the server's own port number in the body is replaced by PORT "
    "(Bottle's error page quotes the request URL, and the two servers listen on different ports)"
)


def body_pieces(total: int, piece: int = PIECE) -> Iterator[bytes]:
    """A deterministic body of ``total`` bytes, produced piece by piece."""
    return servers.body_pieces(total, piece, b"matrix")


def body_digest(total: int) -> str:
    hasher = hashlib.sha256()
    for part in body_pieces(total):
        hasher.update(part)
    return hasher.hexdigest()


@dataclass(frozen=True)
class Answer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    port: int

    def header(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name]

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class Item:
    """One request of the corpus and what its answer must show (``expect``)."""

    id: str
    method: str
    target: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: Callable[[], bytes | Iterator[bytes]] | None = None
    chunked: bool = False
    expect: Callable[[Answer], None] = lambda answer: None

    def send(self, port: int, timeout: float = REQUEST_TIMEOUT) -> Answer:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        try:
            conn.putrequest(self.method, self.target)
            for name, value in self.headers:
                conn.putheader(name, value)
            if self.chunked:
                conn.putheader("Transfer-Encoding", "chunked")
            conn.endheaders()
            if self.body is not None:
                content = self.body()
                for part in [content] if isinstance(content, bytes) else content:
                    conn.send(b"%x\r\n%s\r\n" % (len(part), part) if self.chunked else part)
                if self.chunked:
                    conn.send(b"0\r\n\r\n")
            response = conn.getresponse()
            body = response.read()
            return Answer(response.status, list(response.getheaders()), body, port)
        finally:
            conn.close()


def comparable(item: Item, answer: Answer) -> dict[str, Any]:
    """What must be the same natively and through the bridge."""
    headers: dict[str, list[str]] = {}
    for name, value in answer.headers:
        headers.setdefault(name.lower(), []).append(value)  # repeats keep their order
    for name in IGNORED_HEADERS:
        if name == "content-length" and item.method == "HEAD":
            continue  # compared by same_answer() when both sides send it
        headers.pop(name, None)
    body = answer.body.replace(b":%d" % answer.port, b":PORT")
    return {
        "status": answer.status,
        "headers": headers,
        "body_sha256": hashlib.sha256(body).hexdigest(),
        "body_length": len(body),
    }


def same_answer(item: Item, bridged: Answer, native: Answer) -> bool:
    """Whether ``bridged`` and ``native`` agree once normalised (see module doc)."""
    left, right = comparable(item, bridged), comparable(item, native)
    if item.method == "HEAD":
        a = left["headers"].get("content-length")
        b = right["headers"].get("content-length")
        if a is None or b is None:  # a server may or may not size a HEAD answer
            left["headers"].pop("content-length", None)
            right["headers"].pop("content-length", None)
    return left == right


# -- what each answer must show, natively and bridged ---------------------------
def _ok_text(answer: Answer) -> None:
    assert answer.status == 200, answer
    assert answer.body.startswith(b"hello from "), answer.body[:100]


def _head(answer: Answer) -> None:
    assert answer.status == 200, answer
    assert answer.body == b""


def _echoes(total: int, digest: str) -> Callable[[Answer], None]:
    def check(answer: Answer) -> None:
        assert answer.status == 200, (answer.status, answer.body[:300])
        assert answer.json() == {"length": total, "sha256": digest}

    return check


def _streamed(answer: Answer) -> None:
    assert answer.status == 200, answer.status
    assert answer.body == b"".join(app_common.chunks())
    # Not collected and sized anywhere on the way (the server frames it as it goes).
    assert not answer.header("content-length"), answer.headers


def _headers(answer: Answer) -> None:
    assert answer.status == 200, answer.status
    assert answer.json() == {
        "x-multi": ["first", "second"],
        "x-single": ["one value"],
        "cookie": ["c1=v1; c2=v2"],
    }


def _cookies(answer: Answer) -> None:
    assert answer.status == 200, answer.status
    cookies = answer.header("set-cookie")
    assert len(cookies) == 2, answer.headers
    assert cookies[0].startswith("first=1"), cookies
    assert cookies[1].startswith("second=2"), cookies
    assert app_common.header_values(answer.header("x-repeated")) == ["one", "two"], answer.headers


QUERY = "a=1&a=2&q=caf%C3%A9&plus=x+y%20z&empty="


def _query(answer: Answer) -> None:
    assert answer.status == 200, answer.status
    found = answer.json()
    assert found["raw"] == QUERY
    # Across keys the order is the framework's (Litestar sorts); a key's values keep theirs.
    pairs = [["a", "1"], ["a", "2"], ["q", "café"], ["plus", "x y z"], ["empty", ""]]
    assert sorted(found["pairs"], key=lambda pair: pair[0]) == sorted(pairs, key=lambda p: p[0])


def _path(answer: Answer) -> None:
    assert answer.status == 200, answer.status
    assert answer.json() == {"rest": "café/✓ x"}


CORPUS: list[Item] = [
    Item("get", "GET", "/hello", expect=_ok_text),
    Item("head", "HEAD", "/hello", expect=_head),
    Item(
        "post-body",
        "POST",
        "/echo",
        headers=[
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Content-Length", str(len(SMALL_BODY))),
        ],
        body=lambda: SMALL_BODY,
        expect=_echoes(len(SMALL_BODY), hashlib.sha256(SMALL_BODY).hexdigest()),
    ),
    Item(
        "upload-5mib",
        "POST",
        "/echo",
        headers=[
            ("Content-Type", "application/octet-stream"),
            ("Content-Length", str(UPLOAD_SIZE)),
        ],
        body=lambda: body_pieces(UPLOAD_SIZE),
        expect=_echoes(UPLOAD_SIZE, body_digest(UPLOAD_SIZE)),
    ),
    Item(
        "chunked-upload",
        "POST",
        "/echo",
        headers=[("Content-Type", "application/octet-stream")],
        body=lambda: body_pieces(CHUNKED_SIZE),
        chunked=True,
        expect=_echoes(CHUNKED_SIZE, body_digest(CHUNKED_SIZE)),
    ),
    Item("stream", "GET", "/stream", expect=_streamed),
    Item(
        "repeated-headers",
        "GET",
        "/headers",
        headers=[
            ("X-Multi", "first"),
            ("X-Single", "one value"),
            ("X-Multi", "second"),
            ("Cookie", "c1=v1; c2=v2"),
        ],
        expect=_headers,
    ),
    Item("set-cookie-twice", "GET", "/cookies", expect=_cookies),
    Item("query", "GET", "/query?" + QUERY, expect=_query),
    Item("non-ascii-path", "GET", "/path/caf%C3%A9/%E2%9C%93%20x", expect=_path),
]
ITEMS = {item.id: item for item in CORPUS}
