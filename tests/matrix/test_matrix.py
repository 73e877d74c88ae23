"""The server x framework matrix: every app natively and through the bridge.

Each test id is one (app, server, corpus item). A cell's server starts once,
on the first of its items, replays the whole corpus (each request on a fresh
connection) and stops; the answers are kept in :data:`_ANSWERS` for the other
items. The app's native server is replayed the same way, once per app. Then
each item asserts that the bridged answer equals the native one (see
:func:`corpus.comparable`) and that both show what the item expects (the echo
digest, the decoded path ...), except where the framework itself cannot
(:data:`FRAMEWORK_LIMITS`, then only the equality is asserted).

Combinations that cannot work are xfail(strict=True) with the reason in
:data:`IMPOSSIBLE`; docs/compatibility.md lists them (``report.py``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ._servers import ASGI_SERVERS, start
from .corpus import CORPUS, ITEMS, Answer, comparable, same_answer

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

# app name -> (module, native attribute, bridged attribute)
WSGI_APPS = {
    "flask": ("matrix.apps.flask_app", "app", "bridged"),
    "django-wsgi": ("matrix.apps.django_app", "wsgi", "wsgi_bridged"),
    "bottle": ("matrix.apps.bottle_app", "app", "bridged"),
    "falcon": ("matrix.apps.falcon_app", "app", "bridged"),
}
ASGI_APPS = {
    "fastapi": ("matrix.apps.fastapi_app", "app", "bridged"),
    "starlette": ("matrix.apps.starlette_app", "app", "bridged"),
    "quart": ("matrix.apps.quart_app", "app", "bridged"),
    "django-asgi": ("matrix.apps.django_app", "asgi", "asgi_bridged"),
    "litestar": ("matrix.apps.litestar_app", "app", "bridged"),
}
# Where each kind of app runs natively.
NATIVE = {"wsgi": "gunicorn-sync", "asgi": "uvicorn"}
# The servers each kind of app meets through its bridge.
BRIDGE_SERVERS = {
    "wsgi": list(ASGI_SERVERS),
    "asgi": ["gunicorn-gthread", "waitress", "wsgiref", "werkzeug"],
}

# (app or "*", server or "*", item) -> why it cannot work. Marked xfail(strict=True).
IMPOSSIBLE: dict[tuple[str, str, str], str] = {
    ("*", "wsgiref", "chunked-upload"): (
        "wsgiref does not decode a chunked request body: wsgi.input holds the raw chunk "
        "framing with no end, so no WSGI app can read it there"
    ),
}
# (app, item) -> why the framework itself (natively too) cannot show what the
# item expects; the test still asserts bridged == native.
FRAMEWORK_LIMITS: dict[tuple[str, str], str] = {
    ("django-wsgi", "chunked-upload"): (
        "Django's WSGIRequest reads CONTENT_LENGTH bytes and nothing without it, so a "
        "chunked body arrives empty (on gunicorn natively too)"
    ),
    ("bottle", "chunked-upload"): (
        "Bottle de-chunks wsgi.input itself when Transfer-Encoding is chunked, but the "
        "server (gunicorn natively, or the bridge) already hands it the decoded body, so it "
        "answers 400 'Error while parsing chunked transfer body' natively too"
    ),
}
# An item that is expected to fail gets a short client timeout (wsgiref waits for
# the end of a chunked body forever); a working server answers it far sooner.
IMPOSSIBLE_TIMEOUT = 10.0

_ANSWERS: dict[tuple[str, str], dict[str, Answer | BaseException] | BaseException] = {}


def _target(kind: str, app: str, bridged: bool) -> str:
    module, native_attr, bridged_attr = (WSGI_APPS if kind == "wsgi" else ASGI_APPS)[app]
    return f"{module}:{bridged_attr if bridged else native_attr}"


def _replay(server: str, target: str, logs: Path, app: str) -> dict[str, Answer | BaseException]:
    key = (server, target)
    if key not in _ANSWERS:
        log = logs / f"{server}-{target.replace(':', '-')}.log"
        try:
            process = start(server, target, log)
        except Exception as exc:  # kept: every item of the cell reports it
            _ANSWERS[key] = exc
        else:
            answers: dict[str, Answer | BaseException] = {}
            try:
                for item in CORPUS:
                    try:
                        if impossible(app, server, item.id):
                            answers[item.id] = item.send(process.port, IMPOSSIBLE_TIMEOUT)
                        else:
                            answers[item.id] = item.send(process.port)
                    except Exception as exc:
                        answers[item.id] = RuntimeError(f"{exc!r} (server log: {log})")
            finally:
                process.stop()
            _ANSWERS[key] = answers
    found = _ANSWERS[key]
    if isinstance(found, BaseException):
        raise found
    return found


def _answer(answers: dict[str, Answer | BaseException], item: str, side: str) -> Answer:
    found = answers[item]
    if isinstance(found, BaseException):
        raise AssertionError(f"{side}: {item} got no answer: {found!r}") from found
    return found


def impossible(app: str, server: str, item: str) -> str | None:
    for key in ((app, server, item), ("*", server, item), (app, "*", item)):
        if key in IMPOSSIBLE:
            return IMPOSSIBLE[key]
    return None


def _cells(kind: str) -> list[Any]:
    apps = WSGI_APPS if kind == "wsgi" else ASGI_APPS
    params = []
    for app in apps:
        for server in BRIDGE_SERVERS[kind]:
            for item in CORPUS:
                reason = impossible(app, server, item.id)
                marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
                params.append(
                    pytest.param(app, server, item.id, marks=marks, id=f"{app}-{server}-{item.id}")
                )
    return params


def _check(
    *,
    kind: str,
    app: str,
    server: str,
    item_id: str,
    logs: Path,
    record_property: Any,
) -> None:
    limit = FRAMEWORK_LIMITS.get((app, item_id), "")
    cell = {"kind": kind, "app": app, "server": server, "item": item_id, "framework_limit": limit}
    record_property("matrix", cell)
    item = ITEMS[item_id]
    native_answers = _replay(NATIVE[kind], _target(kind, app, False), logs, app)
    native = _answer(native_answers, item_id, "native")
    bridged = _answer(_replay(server, _target(kind, app, True), logs, app), item_id, "bridged")
    assert same_answer(item, bridged, native), (
        f"{item_id}: bridged {bridged.status} {bridged.headers} {bridged.body[:200]!r} != "
        f"native {native.status} {native.headers} {native.body[:200]!r}\n"
        f"{comparable(item, bridged)} != {comparable(item, native)}"
    )
    if (app, item_id) not in FRAMEWORK_LIMITS:
        item.expect(native)
        item.expect(bridged)


@pytest.fixture(scope="session")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("matrix-logs")


@pytest.mark.parametrize(("app", "server", "item"), _cells("wsgi"))
def test_wsgi_app_through_wsgi_to_asgi(
    app: str, server: str, item: str, logs: Path, record_property: Any
) -> None:
    _check(
        kind="wsgi",
        app=app,
        server=server,
        item_id=item,
        logs=logs,
        record_property=record_property,
    )


@pytest.mark.parametrize(("app", "server", "item"), _cells("asgi"))
def test_asgi_app_through_asgi_to_wsgi(
    app: str, server: str, item: str, logs: Path, record_property: Any
) -> None:
    _check(
        kind="asgi",
        app=app,
        server=server,
        item_id=item,
        logs=logs,
        record_property=record_property,
    )
