"""What every matrix app answers, framework-independent.

Routes (each framework implements them with its own API):

``GET|HEAD /hello``   text ``hello from <framework>``
``POST /echo``        JSON ``{"length", "sha256"}`` of the request body
``GET /stream``       ``STREAM_CHUNKS`` chunks, streamed, no Content-Length
``GET /headers``      JSON: the values of ``ECHOED_HEADERS`` (see :func:`header_values`)
``GET /query``        JSON: the raw query string and its (key, value) pairs in order
``GET /path/<rest>``  JSON: the decoded ``rest`` path parameter
``GET /cookies``      sets two cookies (two Set-Cookie headers) and sends X-Repeated
                      twice (one, two), or once as "one, two" where the framework
                      keeps response headers in a dict (Django, Litestar)
``GET /sleep/<s>``    leaves ``busy.<pid>`` in ``MARKER_DIR``, then answers after ``s``
                      seconds (at most MAX_SLEEP; FastAPI only)
``GET /worker``       JSON ``{"pid", "startup"}``: this process's id and whether the
                      app's lifespan startup ran in it (FastAPI only; the host cells
                      in test_hosts.py read it)

The FastAPI app's lifespan calls :func:`lifespan_started` and
:func:`lifespan_stopped`, which leave ``startup.<pid>`` and ``shutdown.<pid>``
in ``MARKER_DIR`` (when set), so a test sees which processes ran which step,
even those that served no request it could ask.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

STREAM_CHUNKS = 64
MAX_SLEEP = 10.0
ECHOED_HEADERS = ("x-multi", "x-single", "cookie")


def chunk(i: int) -> bytes:
    return (b"%04d:" % i) * 200


def chunks() -> Iterator[bytes]:
    for i in range(STREAM_CHUNKS):
        yield chunk(i)


def to_json(value: object) -> bytes:
    return json.dumps(value, sort_keys=True, ensure_ascii=False).encode("utf-8")


def echo(body: bytes) -> bytes:
    return to_json({"length": len(body), "sha256": hashlib.sha256(body).hexdigest()})


def header_values(values: Iterable[str]) -> list[str]:
    """Every value of one header, each comma-separated field split out.

    A WSGI server folds repeated request headers into one comma-joined field
    (RFC 9110 section 5.3 makes the two equivalent), an ASGI server passes
    them one by one; splitting makes both read the same.
    """
    return [part.strip() for value in values for part in value.split(",")]


def headers_body(get_all: dict[str, list[str]]) -> bytes:
    return to_json({name: header_values(get_all.get(name, [])) for name in ECHOED_HEADERS})


def query_body(raw: str, pairs: Iterable[tuple[str, str]]) -> bytes:
    return to_json({"raw": raw, "pairs": [list(pair) for pair in pairs]})


def path_body(rest: str) -> bytes:
    return to_json({"rest": rest})


def hello(framework: str) -> bytes:
    return f"hello from {framework}\n".encode()


# The processes whose lifespan startup ran (a forked child inherits the set, so
# membership is by its own pid, which a fork changes).
_STARTED: set[int] = set()


def _marker(step: str) -> None:
    folder = os.environ.get("MARKER_DIR")
    if folder:
        Path(folder, f"{step}.{os.getpid()}").write_text(step)


def lifespan_started() -> None:
    _STARTED.add(os.getpid())
    _marker("startup")


def lifespan_stopped() -> None:
    _marker("shutdown")


def request_busy() -> None:
    _marker("busy")


def worker_body() -> bytes:
    pid = os.getpid()
    return to_json({"pid": pid, "startup": pid in _STARTED})
