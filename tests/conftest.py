"""Shared test settings: hypothesis profiles and the anyio backends.

Profiles: ``ci`` (default; a few hundred examples, no deadline) and
``thorough`` (``HYPOTHESIS_PROFILE=thorough`` or ``tox -e thorough``).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from bridge import AsgiToWsgi

settings.register_profile(
    "ci",
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
settings.register_profile(
    "thorough",
    max_examples=3000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


BACKENDS: list[Any] = [
    pytest.param("asyncio", id="asyncio"),
    pytest.param("trio", id="trio"),
    pytest.param(("asyncio", {"use_uvloop": True}), id="uvloop"),
]


@pytest.fixture(params=BACKENDS)
def anyio_backend(request: pytest.FixtureRequest) -> Any:
    """Every ``@pytest.mark.anyio`` test runs under asyncio, trio and uvloop."""
    return request.param


LOOP_THREAD = "bridge-asgi-loop"


def loop_threads() -> set[threading.Thread]:
    """The AsgiToWsgi loop threads alive right now."""
    return {t for t in threading.enumerate() if t.name == LOOP_THREAD and t.is_alive()}


@pytest.fixture
def make_adapter() -> Iterator[Callable[..., AsgiToWsgi]]:
    """Build AsgiToWsgi adapters; close them all afterwards and check their loop threads ended."""
    before = loop_threads()
    made: list[AsgiToWsgi] = []

    def make(app: Any, **options: Any) -> AsgiToWsgi:
        adapter = AsgiToWsgi(app, **options)
        made.append(adapter)
        return adapter

    yield make
    for adapter in made:
        adapter.close()
    leftover = loop_threads() - before
    assert not leftover, f"loop threads still running after close(): {leftover}"
