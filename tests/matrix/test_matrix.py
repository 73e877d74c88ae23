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

The deployment hosts (``_servers.HOSTS``: uWSGI's modes, mod_wsgi-express,
cheroot, gunicorn's gevent worker, granian) run one app each
(:data:`HOST_APPS`). Their cell replays the corpus like any other, then asks
``/worker`` from several threads at once (so that more than one worker
serves), sends the stop signal to the server's PID and watches its process
group empty; ``test_host_lifecycle`` then asserts what
:func:`_lifecycle` saw. A host that is not installed here (mod_wsgi-express
without apache2-dev, ...) skips its cell with the reason.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from ._servers import ASGI_SERVERS, HOSTS, STOP_SECONDS, Host, start, wait_all_started
from .corpus import CORPUS, ITEMS, Answer, Item, comparable, same_answer

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
# The one app of each kind that the deployment hosts run (the FastAPI app has a lifespan
# and GET /worker), and the hosts of each kind.
HOST_APPS = {"asgi": "fastapi", "wsgi": "flask"}
HOST_SERVERS = {kind: [name for name, h in HOSTS.items() if h.kind == kind] for kind in HOST_APPS}
# GET /worker this many times, from this many threads at once, after the corpus.
WORKER_PROBES = 24
WORKER_PROBE_THREADS = 6
WORKER = Item("worker", "GET", "/worker")
# After the server's PID exited, how long its workers get to leave its process group.
GROUP_EXIT_SECONDS = 10

# (app or "*", server or "*", item) -> why it cannot work. Marked xfail(strict=True).
IMPOSSIBLE: dict[tuple[str, str, str], str] = {
    ("*", "wsgiref", "chunked-upload"): (
        "wsgiref does not decode a chunked request body: wsgi.input holds the raw chunk "
        "framing with no end, so no WSGI app can read it there"
    ),
    **{
        ("*", server, "chunked-upload"): (
            "uWSGI does not decode a chunked request body into wsgi.input (only its own "
            "uwsgi.chunked_read() API reads one) and passes no CONTENT_LENGTH, so a WSGI app "
            "reads an empty body there"
        )
        for server in HOSTS
        if server.startswith("uwsgi")
    },
    **{
        ("*", server, "repeated-headers"): (
            "cheroot keeps only the last of a repeated request header (X-Multi: first, then "
            "X-Multi: second reach the environ as HTTP_X_MULTI 'second'), except for the few "
            "headers it knows to be comma-separated lists (Accept, ...)"
        )
        for server in HOSTS
        if server.startswith("cheroot")
    },
}
# (server, item) -> how the host itself rewrites what any WSGI app sends, in a way
# RFC 9110 makes equivalent; the test asserts what the item expects (natively and
# bridged) instead of bridged == native.
HOST_LIMITS: dict[tuple[str, str], str] = {
    **{
        (server, "set-cookie-twice"): (
            "Apache joins a repeated response header other than Set-Cookie into one "
            "(X-Repeated: one, two), as RFC 9110 section 5.3 allows, for any WSGI app"
        )
        for server in HOSTS
        if server.startswith("mod_wsgi")
    },
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
# (server, target) -> what _lifecycle() saw, for the deployment hosts.
_LIFECYCLES: dict[tuple[str, str], dict[str, Any]] = {}


class HostMissing(Exception):
    """The host cannot run here; the message names what is missing."""


def _target(kind: str, app: str, bridged: bool) -> str:
    module, native_attr, bridged_attr = (WSGI_APPS if kind == "wsgi" else ASGI_APPS)[app]
    return f"{module}:{bridged_attr if bridged else native_attr}"


def _replay(server: str, target: str, logs: Path, app: str) -> dict[str, Answer | BaseException]:
    key = (server, target)
    if key not in _ANSWERS:
        log = logs / f"{server}-{target.replace(':', '-')}.log"
        host = HOSTS.get(server)
        markers = None
        if host is not None:
            # World-writable and outside pytest's 0700 folder: mod_wsgi's daemon
            # processes (www-data, when started as root) write the app's markers.
            markers = Path(tempfile.mkdtemp(prefix=f"matrix-{server}-"))
            markers.chmod(0o777)
        try:
            missing = host.blocker(markers) if host is not None and markers else None
            if missing:
                raise HostMissing(missing)
            process = start(server, target, log, markers)
        except Exception as exc:  # kept: every item of the cell reports it
            _ANSWERS[key] = exc
            if markers is not None:
                shutil.rmtree(markers, ignore_errors=True)
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
                if host is not None and markers is not None:
                    _LIFECYCLES[key] = _lifecycle(process, host, markers)
            finally:
                process.kill() if host is not None else process.stop()
                if markers is not None:
                    shutil.rmtree(markers, ignore_errors=True)
            _ANSWERS[key] = answers
    found = _ANSWERS[key]
    if isinstance(found, HostMissing):
        pytest.skip(str(found))
    if isinstance(found, BaseException):
        raise found
    return found


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _pids(markers: Path, step: str) -> list[int]:
    return sorted(int(path.suffix[1:]) for path in markers.glob(f"{step}.*"))


def _lifecycle(process: Any, host: Host, markers: Path) -> dict[str, Any]:
    """Which workers served and had started up; then stop the server by its PID.

    ``/worker`` is asked from several threads at once so that more than one
    worker of a prefork host answers. The stop signal (``Host.stop_signal``)
    goes to the server's PID only (as a process manager sends it); the server must exit within
    STOP_SECONDS and its workers leave its process group within
    GROUP_EXIT_SECONDS more. Then the app's ``shutdown.<pid>`` markers say
    in which processes lifespan shutdown ran.
    """
    served: dict[int, bool] = {}
    errors: list[str] = []
    if host.lifespan:

        def probe(_: int) -> Answer:
            return WORKER.send(process.port)

        with ThreadPoolExecutor(WORKER_PROBE_THREADS) as pool:
            for answer in pool.map(probe, range(WORKER_PROBES)):
                if answer.status != 200:
                    errors.append(f"GET /worker: {answer.status} {answer.body[:300]!r}")
                    continue
                found = answer.json()
                served[found["pid"]] = served.get(found["pid"], True) and found["startup"]
    wait_all_started(host, process)
    pid = process.proc.pid
    started = time.monotonic()
    os.kill(pid, host.stop_signal)
    try:
        returncode: int | None = process.proc.wait(timeout=STOP_SECONDS)
    except subprocess.TimeoutExpired:
        returncode = None
    stop_seconds = time.monotonic() - started
    deadline = time.monotonic() + GROUP_EXIT_SECONDS
    while _group_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)  # polling for the workers to go, bounded by the deadline
    return {
        "main_pid": pid,
        "served": served,
        "errors": errors,
        "startup_pids": _pids(markers, "startup"),
        "shutdown_pids": _pids(markers, "shutdown"),
        "returncode": returncode,
        "stop_seconds": round(stop_seconds, 2),
        "group_left": _group_alive(pid),
        "log": str(process.log),
    }


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


def _servers_for(kind: str, app: str) -> list[str]:
    return BRIDGE_SERVERS[kind] + (HOST_SERVERS[kind] if app == HOST_APPS[kind] else [])


def _cells(kind: str) -> list[Any]:
    apps = WSGI_APPS if kind == "wsgi" else ASGI_APPS
    params = []
    for app in apps:
        for server in _servers_for(kind, app):
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
    host_limit = HOST_LIMITS.get((server, item_id), "")
    cell = {
        "kind": kind,
        "app": app,
        "server": server,
        "item": item_id,
        "framework_limit": limit,
        "host_limit": host_limit,
    }
    record_property("matrix", cell)
    item = ITEMS[item_id]
    native_answers = _replay(NATIVE[kind], _target(kind, app, False), logs, app)
    native = _answer(native_answers, item_id, "native")
    bridged = _answer(_replay(server, _target(kind, app, True), logs, app), item_id, "bridged")
    if host_limit:
        item.expect(native)
        item.expect(bridged)
        return
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


@pytest.mark.parametrize(
    "server", [pytest.param(name, id=f"{HOST_APPS[h.kind]}-{name}") for name, h in HOSTS.items()]
)
def test_host_lifecycle(server: str, logs: Path, record_property: Any) -> None:
    """Lifespan startup in every worker that served, a clean stop by PID, and
    lifespan shutdown exactly where the host runs it (``Host.shutdown``)."""
    host = HOSTS[server]
    app = HOST_APPS[host.kind]
    target = _target(host.kind, app, True)
    _replay(server, target, logs, app)  # skips when the host is missing here
    seen = _LIFECYCLES.get((server, target))
    assert seen is not None, f"{server}: the cell stopped before its lifecycle checks"
    record_property("host", {"server": server, "kind": host.kind, "app": app, **seen})
    assert seen["returncode"] is not None, (
        f"{server} did not exit within {STOP_SECONDS} s of {host.stop_signal.name} "
        f"(log: {seen['log']})"
    )
    assert not seen["group_left"], f"{server} left processes behind (log: {seen['log']})"
    if not host.lifespan:
        return
    assert not seen["errors"], seen["errors"]
    served = seen["served"]
    startup = set(seen["startup_pids"])
    assert served, f"{server}: no answer to GET /worker"
    assert all(served.values()), f"{server}: a worker served before its startup ran: {served}"
    assert set(served) <= startup, (served, startup)
    if host.prefork:
        assert seen["main_pid"] not in startup, "lifespan startup ran in the master process"
    shutdown = set(seen["shutdown_pids"])
    if host.shutdown:
        assert shutdown == startup, f"{server}: shutdown ran in {shutdown}, startup in {startup}"
    else:
        assert not shutdown, f"{server}: lifespan shutdown ran in {shutdown} (expected: never)"


# The in-flight request of test_stop_with_a_request_in_flight: it outlasts uWSGI's
# one second of mercy for busy workers, and the stop bound is far above it.
IN_FLIGHT_SECONDS = 3
IN_FLIGHT_HOSTS = [name for name, h in HOSTS.items() if h.lifespan]


@pytest.mark.parametrize("server", [pytest.param(name, id=name) for name in IN_FLIGHT_HOSTS])
def test_stop_with_a_request_in_flight(server: str, logs: Path, record_property: Any) -> None:
    """The host's stop signal while a request sleeps: the server exits within the
    bound, leaves nothing behind, and (as measured per host, ``Host.in_flight_*``)
    the client gets its answer or not, and the busy worker runs lifespan shutdown
    or not."""
    host = HOSTS[server]
    markers = Path(tempfile.mkdtemp(prefix=f"matrix-in-flight-{server}-"))
    markers.chmod(0o777)
    try:
        missing = host.blocker(markers)
        if missing:
            pytest.skip(missing)
        target = _target(host.kind, HOST_APPS[host.kind], True)
        process = start(server, target, logs / f"in-flight-{server}.log", markers)
        try:
            wait_all_started(host, process)
            with ThreadPoolExecutor(1) as pool:
                slow = pool.submit(
                    Item("slow", "GET", f"/sleep/{IN_FLIGHT_SECONDS}").send, process.port, 30
                )
                deadline = time.monotonic() + 30
                while not _pids(markers, "busy") and time.monotonic() < deadline:
                    time.sleep(0.02)  # polling for the app to take the request, bounded
                busy = _pids(markers, "busy")
                assert len(busy) == 1, f"the slow request never reached the app: {busy}"
                os.kill(process.proc.pid, host.stop_signal)
                try:
                    returncode: int | None = process.proc.wait(timeout=STOP_SECONDS)
                except subprocess.TimeoutExpired:
                    returncode = None
                try:
                    answer: Answer | None = slow.result(timeout=30)
                except OSError:  # the connection was closed without an answer
                    answer = None
            deadline = time.monotonic() + GROUP_EXIT_SECONDS
            while _group_alive(process.proc.pid) and time.monotonic() < deadline:
                time.sleep(0.05)  # polling for the workers to go, bounded by the deadline
            left = _group_alive(process.proc.pid)
        finally:
            process.kill()
        answered = answer is not None and answer.status == 200
        busy_shutdown = busy[0] in _pids(markers, "shutdown")
    finally:
        shutil.rmtree(markers, ignore_errors=True)
    record_property(
        "in_flight", {"server": server, "answered": answered, "busy_shutdown": busy_shutdown}
    )
    assert returncode is not None, f"{server} did not exit within {STOP_SECONDS} s of the signal"
    assert not left, f"{server} left processes behind"
    assert answered == host.in_flight_answered, (server, answer)
    assert busy_shutdown == host.in_flight_shutdown, (server, "busy worker shutdown")
