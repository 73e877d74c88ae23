"""An atheris (libFuzzer) target for bridge's pure translators. Not run in CI.

Run it (from the repository root, after ``make venv``)::

    .venv/bin/pip install atheris
    .venv/bin/python fuzz/fuzz_translators.py -max_total_time=60

Each input is split by ``FuzzedDataProvider`` into one of five cases: an ASGI
scope into ``build_environ``, a WSGI environ into ``build_scope`` and
``request_body_length``, ASGI response headers into ``decode_asgi_headers``,
WSGI response headers into ``encode_wsgi_headers``, or a status line into
``parse_status``. A crash is any exception other than the documented ones, or
an output that would forward CR, LF or NUL, a non-token name or more header
bytes than the limit. The hypothesis versions of these properties run in CI
(tests/test_hostile_input.py).
"""

from __future__ import annotations

import sys
from typing import Any

import atheris

with atheris.instrument_imports():
    from bridge._environ import build_environ
    from bridge._errors import RequestRejected
    from bridge._http import decode_asgi_headers, encode_wsgi_headers, parse_status
    from bridge._scope import build_scope, request_body_length

LIMIT = 256
FORBIDDEN = frozenset("\r\n\x00")
FORBIDDEN_BYTES = frozenset(b"\r\n\x00")


def _pairs(fdp: atheris.FuzzedDataProvider) -> list[tuple[bytes, bytes]]:
    pairs = []
    for _ in range(fdp.ConsumeIntInRange(0, 8)):
        name = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 12))
        pairs.append((name, fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 40))))
    return pairs


def _text(fdp: atheris.FuzzedDataProvider, size: int = 24) -> str:
    return fdp.ConsumeUnicodeNoSurrogates(size) if fdp.ConsumeBool() else fdp.ConsumeUnicode(size)


def _environ_case(fdp: atheris.FuzzedDataProvider) -> None:
    scope: dict[str, Any] = {
        "type": "http",
        "method": fdp.PickValueInList(["GET", "POST", _text(fdp, 8)]),
        "path": _text(fdp),
        "root_path": _text(fdp, 8),
        "raw_path": fdp.ConsumeBytes(16) if fdp.ConsumeBool() else None,
        "query_string": fdp.ConsumeBytes(16),
        "headers": _pairs(fdp),
    }
    try:
        environ = build_environ(scope, {}, max_header_count=6, max_header_bytes=LIMIT)
    except RequestRejected as rejected:
        assert rejected.status in (400, 414, 431), rejected
        return
    for key, value in environ.items():
        if key.isupper():
            assert all(ord(c) <= 0xFF for c in value), (key, value)
        if key.startswith("HTTP_") or key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            assert not FORBIDDEN & set(value), (key, value)


def _scope_case(fdp: atheris.FuzzedDataProvider) -> None:
    keys = ["PATH_INFO", "SCRIPT_NAME", "QUERY_STRING", "CONTENT_TYPE", "CONTENT_LENGTH"]
    environ: dict[str, Any] = {}
    for _ in range(fdp.ConsumeIntInRange(0, 8)):
        key = fdp.PickValueInList([*keys, "HTTP_" + _text(fdp, 8)])
        environ[key] = _text(fdp)
    try:
        request_body_length(environ)
        scope = build_scope(
            environ, state=None, extensions={}, max_header_count=6, max_header_bytes=LIMIT
        )
    except RequestRejected as rejected:
        assert rejected.status in (400, 414, 431), rejected
        return
    for name, value in scope["headers"]:
        assert not FORBIDDEN_BYTES & set(name + value), (name, value)
        assert name and b":" not in name and b" " not in name, name


def _decode_case(fdp: atheris.FuzzedDataProvider) -> None:
    try:
        out = decode_asgi_headers(_pairs(fdp), LIMIT)
    except (TypeError, ValueError):
        return
    assert sum(len(n) + len(v) for n, v in out) <= LIMIT
    for name, value in out:
        assert not FORBIDDEN & set(name + value), (name, value)


def _encode_case(fdp: atheris.FuzzedDataProvider) -> None:
    headers = [(_text(fdp, 10), _text(fdp, 30)) for _ in range(fdp.ConsumeIntInRange(0, 8))]
    try:
        out = encode_wsgi_headers(headers, LIMIT)
    except ValueError:
        return
    for name, value in out:
        assert not FORBIDDEN_BYTES & set(name + value), (name, value)


def _status_case(fdp: atheris.FuzzedDataProvider) -> None:
    line = _text(fdp, 30)
    try:
        code = parse_status(line)
    except ValueError:
        return
    assert 200 <= code <= 999 and not FORBIDDEN & set(line), line


CASES = [_environ_case, _scope_case, _decode_case, _encode_case, _status_case]


def test_one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    fdp.PickValueInList(CASES)(fdp)


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
