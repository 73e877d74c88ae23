"""AsgiToWsgi refuses, when it is built, a uWSGI that runs Python without threads.

uWSGI's embedded ``uwsgi`` module says ``has_threads == 0`` there (uWSGI before
2.0.27 without ``--enable-threads``; later versions always enable threads, so
the real host cannot show it: the matrix's ``uwsgi-http`` cell runs uWSGI
2.0.27+ without the flag and serves). Here a stand-in module plays uWSGI's.
"""

from __future__ import annotations

import sys
import types
from typing import Any

import pytest

from bridge import AsgiToWsgi


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:  # never called
    raise AssertionError("not called")


def _as_uwsgi(monkeypatch: pytest.MonkeyPatch, has_threads: int) -> None:
    embedded = types.ModuleType("uwsgi")
    embedded.has_threads = has_threads  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "uwsgi", embedded)


def test_uwsgi_without_threads_is_refused_with_the_flag_to_add(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _as_uwsgi(monkeypatch, 0)
    with pytest.raises(RuntimeError, match="--enable-threads"):
        AsgiToWsgi(app)


def test_uwsgi_with_threads_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    _as_uwsgi(monkeypatch, 1)
    with AsgiToWsgi(app) as adapter:
        assert adapter.app is not None


def test_another_host_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "uwsgi", raising=False)
    with AsgiToWsgi(app) as adapter:
        assert adapter.app is not None
