"""Hypothesis strategies for ASGI ``http`` scopes, shared by the property tests.

``scopes(header_pair, methods)`` draws scopes as ASGI servers build them:
paths under, beside (``/app`` vs ``/application``) and outside ``root_path``;
``raw_path`` absent, matching ``path``, missing the root (uvicorn's form) or
rewritten by middleware; any query bytes; repeated and mixed-case headers
(values chosen by ``header_pair``, so a test can keep them valid or not);
unix-socket servers; optional keys left out.
"""

from __future__ import annotations

from collections.abc import Callable
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
