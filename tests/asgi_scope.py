"""One place that builds a complete ASGI ``http`` scope for in-process tests."""

from __future__ import annotations

from typing import Any


def http_scope(**overrides: Any) -> dict[str, Any]:
    """A scope as an ASGI server sends it for ``GET /``; keyword arguments replace keys."""
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/",
        "raw_path": b"/",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"example.org")],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8000),
    }
    scope.update(overrides)
    return scope
