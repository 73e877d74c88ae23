"""The ``bridge`` command in process: loading targets, detection, plans, errors, exit codes.

Real servers started by ``bridge serve`` are in tests/test_cli_servers.py.
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import bridge._serve as serve_module
from bridge import AsgiToWsgi, WsgiToAsgi
from bridge.__main__ import EPILOG, main
from bridge._cli_load import load_app
from bridge._detect import ASGI2, ASGI3, WSGI, interface_of
from bridge._serve import SERVERS, Options, make_plan, served_app

ROOT = Path(__file__).resolve().parent.parent

APPS = """
from bridge import AsgiToWsgi, WsgiToAsgi

def wsgi_app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"wsgi says hi"]

async def asgi_app(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"asgi says hi"})

class Asgi2:
    def __init__(self, scope):
        self.scope = scope
    async def __call__(self, receive, send):
        pass

def make_wsgi():
    return wsgi_app

def make_named(name, *, loud=False):
    def named(environ, start_response):
        start_response("200 OK", [])
        return [(name.upper() if loud else name).encode()]
    named.label = (name, loud)
    return named

def broken_factory():
    raise RuntimeError("the database is down")

class Holder:
    inner = wsgi_app

wrapped_wsgi = WsgiToAsgi(wsgi_app)
wrapped_asgi = AsgiToWsgi(asgi_app)
not_an_app = 42
"""


@pytest.fixture
def app_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "cli_apps.py").write_text(APPS)
    (tmp_path / "broken_import.py").write_text("import no_such_dependency_xyz\n")
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "web.py").write_text("from cli_apps import wsgi_app as app\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in ("cli_apps", "broken_import", "web"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    monkeypatch.setattr("bridge._cli_load._cache", {})
    return tmp_path


def test_interface_detection() -> None:
    def wsgi(environ: Any, start_response: Any) -> list[bytes]:
        return []

    async def asgi(scope: Any, receive: Any, send: Any) -> None:
        return None

    class Asgi2:
        def __init__(self, scope: Any) -> None:
            self.scope = scope

        async def __call__(self, receive: Any, send: Any) -> None:
            return None

    class AsgiObject:
        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            return None

    assert interface_of(wsgi) == WSGI
    assert interface_of(asgi) == ASGI3
    assert interface_of(AsgiObject()) == ASGI3
    assert interface_of(Asgi2) == ASGI2  # a class whose instances' __call__ is async
    assert interface_of(WsgiToAsgi(wsgi)) == ASGI3
    assert interface_of(AsgiToWsgi(asgi)) == WSGI
    with pytest.raises(TypeError, match="not callable"):
        interface_of(42)
    with pytest.raises(TypeError, match="cannot tell"):
        interface_of(lambda a, b, c, d: None)


def test_targets_attribute_paths_factories_and_files(app_module: Path) -> None:
    assert load_app("cli_apps:Holder.inner").__name__ == "wsgi_app"
    assert load_app("cli_apps:make_wsgi()").__name__ == "wsgi_app"
    named = load_app('cli_apps:make_named("hi", loud=True)')
    assert named.label == ("hi", True)
    assert load_app("cli_apps:make_named('x')").label == ("x", False)
    assert load_app("cli_apps.py:asgi_app").__name__ == "asgi_app"
    assert load_app(str(app_module / "cli_apps.py") + ":wsgi_app").__name__ == "wsgi_app"
    assert load_app("pkg/web.py").__name__ == "wsgi_app"  # no :ATTR -> app
    assert load_app("cli_apps:make_wsgi()") is load_app("cli_apps:make_wsgi()")  # called once


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("no_such_module_xyz:app", "module 'no_such_module_xyz' not found"),
        ("cli_apps:missing", "has no attribute 'missing'; it has: Asgi2, AsgiToWsgi"),
        ("cli_apps:Holder.nope", "cli_apps.Holder has no attribute 'nope'"),
        ("cli_apps", "has no 'app' or 'application': name the app as cli_apps:ATTR"),
        ("cli_apps:not_an_app", "not an app: 42 is not callable"),
        ("cli_apps:make_named(print)", "must be Python literals"),
        ("cli_apps:make_named(*x)", "no *args or **kwargs in 'make_named(*x)'"),
        ("cli_apps:make_named(*['x'])", "no *args or **kwargs"),  # a literal, still refused
        ("cli_apps:make_named(**{'name': 'x'})", "no *args or **kwargs"),
        ("cli_apps:make_named({[1]: 2})", "must be Python literals"),  # unhashable key
        ("cli_apps:make_named({[1]})", "must be Python literals"),  # unhashable set item
        ("cli_apps:make_named(name={(): {[]: 0}})", "must be Python literals"),
        ("cli_apps:1 + 2", "after the colon give an attribute"),
        ("cli_apps:broken_factory()", "calling broken_factory() raised RuntimeError"),
        ("broken_import:app", "importing 'broken_import' raised ModuleNotFoundError"),
        ("missing_dir/app.py:app", "file 'missing_dir/app.py' not found"),
        (":app", "expected MODULE:ATTR"),
    ],
)
def test_load_errors_are_clear_and_exit_1(
    app_module: Path, capsys: pytest.CaptureFixture[str], target: str, message: str
) -> None:
    assert main(["inspect", target]) == 1
    err = capsys.readouterr().err
    assert message in err
    assert err.rstrip().splitlines()[-1].startswith("bridge: error: ")


def test_a_file_named_like_an_imported_module_does_not_replace_it(
    app_module: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import http  # the standard library's, which bridge imports too

    monkeypatch.setitem(sys.modules, "http", http)  # put back even if the loader broke it
    for private in ("_bridge_app_http", "_bridge_app_http_2"):
        monkeypatch.setitem(sys.modules, private, None)  # so both are removed afterwards
        monkeypatch.delitem(sys.modules, private)
    for folder in ("one", "two"):
        (app_module / folder).mkdir()
        (app_module / folder / "http.py").write_text(
            f"def app(environ, start_response):\n    return [b{folder!r}]\n"
        )
    one = load_app("one/http.py:app")
    assert sys.modules["http"] is http
    assert one.__module__ == "_bridge_app_http"
    assert one(None, None) == [b"one"]
    two = load_app("two/http.py:app")  # another file of that name: another private name
    assert two.__module__ == "_bridge_app_http_2"
    assert two(None, None) == [b"two"]
    monkeypatch.setattr("bridge._cli_load._cache", {})
    assert load_app(str(app_module / "one" / "http.py") + ":app") is one  # reused, not rerun
    import http.client  # still importable: the package is intact

    assert sys.modules["http"] is http
    assert http.client.HTTPConnection.__module__ == "http.client"


def test_root_path_mounts_on_segment_boundaries_and_404s_outside() -> None:
    seen: list[tuple[str, str]] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        seen.append((environ["SCRIPT_NAME"], environ["PATH_INFO"]))
        start_response("200 OK", [])
        return [b"app"]

    statuses: list[str] = []

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        statuses.append(status)

    mounted = serve_module._RootPath(app, "/app/")
    for path, expected in [
        ("/app", ("/app", "")),
        ("/app/", ("/app", "/")),
        ("/app/x/y", ("/app", "/x/y")),
    ]:
        seen.clear()
        assert mounted({"PATH_INFO": path, "SCRIPT_NAME": ""}, start_response) == [b"app"]
        assert seen == [expected]
        assert "".join(expected) == path  # PEP 3333: SCRIPT_NAME + PATH_INFO is the path
    seen.clear()
    statuses.clear()
    for path in ("/apps/x", "/apps", "/ap", "/", "", "/other/app"):
        body = b"".join(mounted({"PATH_INFO": path, "SCRIPT_NAME": ""}, start_response))
        assert b"Not Found" in body
    assert statuses == ["404 Not Found"] * 6
    assert seen == []  # the app never saw a request outside its mount
    seen.clear()
    assert serve_module._RootPath(app, "/app")(
        {"PATH_INFO": "/app/x", "SCRIPT_NAME": "/outer"}, start_response
    ) == [b"app"]
    assert seen == [("/outer/app", "/x")]


def test_inspect_reports_kind_and_wrapping(
    app_module: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["inspect", "cli_apps:wsgi_app"]) == 0
    out = capsys.readouterr().out
    assert "cli_apps:wsgi_app: WSGI application" in out
    assert re.search(r"^  uvicorn +through bridge\.WsgiToAsgi$", out, re.M)
    assert re.search(r"^  hypercorn-trio +through bridge\.WsgiToAsgi$", out, re.M)
    assert re.search(r"^  waitress +as is$", out, re.M)
    assert re.search(r"^  granian +as is$", out, re.M)  # granian speaks WSGI itself
    assert re.search(r"^  gunicorn +as is \(worker class gthread\)$", out, re.M)
    assert "default server: wsgiref" in out

    assert main(["inspect", "cli_apps:asgi_app"]) == 0
    out = capsys.readouterr().out
    assert "ASGI 3 application" in out
    assert re.search(r"^  wsgiref +through bridge\.AsgiToWsgi$", out, re.M)
    assert re.search(
        r"^  gunicorn +as is \(worker class bridge\._cli_worker\.UvicornWorker\)", out, re.M
    )
    assert re.search(r"^  daphne +as is; daphne does not run the ASGI lifespan", out, re.M)
    assert "default server: uvicorn" in out

    assert main(["inspect", "cli_apps:Asgi2"]) == 0
    out = capsys.readouterr().out
    assert "ASGI 2 application" in out
    assert re.search(r"^  uvicorn +through asgiref's guarantee_single_callable", out, re.M)

    assert main(["inspect", "cli_apps:wrapped_wsgi"]) == 0
    out = capsys.readouterr().out
    assert "ASGI 3 application (a bridge.WsgiToAsgi around a WSGI app)" in out
    assert re.search(r"^  waitress +its WSGI app, taken out of the bridge\.WsgiToAsgi$", out, re.M)

    assert main(["inspect", "cli_apps:asgi_app", "--interface", "wsgi"]) == 0
    assert "WSGI application" in capsys.readouterr().out  # --interface overrides detection


def test_served_app_wraps_unwraps_and_single_callables(app_module: Path) -> None:
    wsgi, asgi = load_app("cli_apps:wsgi_app"), load_app("cli_apps:asgi_app")
    assert served_app(wsgi, WSGI, WSGI) is wsgi
    assert served_app(asgi, ASGI3, ASGI3) is asgi
    bridged = served_app(wsgi, WSGI, ASGI3, pool_threads=3)
    assert isinstance(bridged, WsgiToAsgi)
    assert (bridged.app, bridged.workers) == (wsgi, 3)
    to_wsgi = served_app(asgi, ASGI3, WSGI)
    assert isinstance(to_wsgi, AsgiToWsgi)
    assert to_wsgi.app is asgi
    to_wsgi.close()
    assert served_app(load_app("cli_apps:wrapped_wsgi"), ASGI3, WSGI) is wsgi
    assert served_app(load_app("cli_apps:wrapped_asgi"), WSGI, ASGI3) is asgi
    single = served_app(load_app("cli_apps:Asgi2"), ASGI2, ASGI3)
    assert interface_of(single) == ASGI3
    assert isinstance(served_app(load_app("cli_apps:Asgi2"), ASGI2, WSGI), AsgiToWsgi)


def test_gunicorn_runs_asgi_on_gthread_when_uvicorn_worker_is_missing(
    app_module: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asgi = load_app("cli_apps:asgi_app")
    plan = make_plan(asgi, ASGI3, SERVERS["gunicorn"], Options("cli_apps:asgi_app"))
    assert (plan.speaks, plan.worker_class) == (ASGI3, "bridge._cli_worker.UvicornWorker")
    monkeypatch.setattr(serve_module, "is_installed", lambda package: package != "uvicorn_worker")
    plan = make_plan(asgi, ASGI3, SERVERS["gunicorn"], Options("cli_apps:asgi_app"))
    assert (plan.speaks, plan.worker_class) == (WSGI, "gthread")
    assert plan.wrapping == "through bridge.AsgiToWsgi"
    wsgi = load_app("cli_apps:wsgi_app")
    chosen = Options("cli_apps:wsgi_app", worker_class="uvicorn_worker.UvicornWorker")
    plan = make_plan(wsgi, WSGI, SERVERS["gunicorn"], chosen)
    assert (plan.speaks, plan.wrapping) == (ASGI3, "through bridge.WsgiToAsgi")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--server", "waitress", "--reload"], "waitress has no reloader of its own"),
        (["--server", "daphne", "--reload"], "daphne has no reloader of its own"),
        (["--server", "wsgiref", "--reload"], "wsgiref has no reloader of its own"),
        (["--server", "waitress", "--workers", "2"], "waitress runs one process"),
        (["--server", "uvicorn", "--threads", "4"], "uvicorn has none for this app"),
        (["--server", "wsgiref", "--threads", "4"], "wsgiref has none for this app"),
        (["--server", "uvicorn", "--worker-class", "trio"], "uvicorn has no worker classes"),
        (["--server", "hypercorn", "--worker-class", "gevent"], "asyncio, uvloop, trio"),
    ],
)
def test_options_a_server_lacks_exit_2(
    app_module: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert main(["serve", "cli_apps:asgi_app", *args]) == 2
    assert message in capsys.readouterr().err


def test_threads_size_the_wsgi_to_asgi_pool_on_an_asgi_server(app_module: Path) -> None:
    wsgi = load_app("cli_apps:wsgi_app")
    plan = make_plan(wsgi, WSGI, SERVERS["uvicorn"], Options("x", threads=7))
    assert plan.pool_threads == 7
    plan = make_plan(wsgi, WSGI, SERVERS["waitress"], Options("x", threads=7))
    assert plan.pool_threads is None  # waitress's own pool: --threads goes to waitress


def test_missing_server_prints_the_install_hint_and_exits_3(
    app_module: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(serve_module, "is_installed", lambda package: package != "daphne")
    assert main(["serve", "cli_apps:asgi_app", "--server", "daphne"]) == 3
    err = capsys.readouterr().err
    assert "server 'daphne' is not installed: pip install 'wsgi-asgi-bridge[daphne]'" in err
    assert main(["inspect", "cli_apps:asgi_app"]) == 0
    out = capsys.readouterr().out
    assert re.search(
        r"^not installed:\n  daphne +pip install 'wsgi-asgi-bridge\[daphne\]'$", out, re.M
    )
    monkeypatch.setattr(serve_module, "is_installed", lambda package: package != "trio")
    assert main(["serve", "cli_apps:asgi_app", "--server", "hypercorn-trio"]) == 3
    assert "pip install 'wsgi-asgi-bridge[hypercorn]'" in capsys.readouterr().err


def test_with_nothing_installed_the_default_is_wsgiref(
    app_module: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(serve_module, "is_installed", lambda package: False)
    assert serve_module.default_server(ASGI3) == "wsgiref"
    assert main(["inspect", "cli_apps:asgi_app"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^installed servers that can run it:\n  wsgiref +through", out, re.M)
    assert "default server: wsgiref" in out


def test_port_in_use_exits_4_with_the_fix(
    app_module: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        for server in ("wsgiref", "uvicorn", "gunicorn"):
            assert main(["serve", "cli_apps:wsgi_app", "--server", server, "--port", port]) == 4
            err = capsys.readouterr().err
            assert f"cannot listen on 127.0.0.1:{port}" in err
            assert "choose another --port" in err


def test_usage_errors_exit_2(app_module: Path) -> None:
    for argv in (
        ["serve"],
        ["serve", "x:y", "--port", "70000"],
        ["serve", "x:y", "--workers", "0"],
    ):
        with pytest.raises(SystemExit) as exited:
            main(argv)
        assert exited.value.code == 2


def test_help_and_docs_list_the_same_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["serve", "--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    codes = re.findall(r"^  ([0-5])  (.+)$", EPILOG, re.M)
    assert [code for code, _ in codes] == ["0", "1", "2", "3", "4", "5"]
    docs = (ROOT / "docs" / "cli.md").read_text()
    for code, first_line in codes:
        assert f"  {code}  {first_line}" in out
        assert re.search(rf"^\| {code} \|", docs, re.M), f"docs/cli.md lacks exit code {code}"


def test_python_dash_m_bridge_runs() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bridge", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0
    assert re.fullmatch(r"bridge \d+\.\d+\S*\n", result.stdout)


def test_new_hosts_in_inspect_and_their_wrapping(app_module: Path) -> None:
    asgi, wsgi = load_app("cli_apps:asgi_app"), load_app("cli_apps:wsgi_app")
    for name in ("uwsgi", "mod_wsgi", "cheroot", "gunicorn-gevent", "granian-wsgi"):
        plan = make_plan(asgi, ASGI3, SERVERS[name], Options("cli_apps:asgi_app"))
        assert (plan.speaks, plan.wrapping) == (WSGI, "through bridge.AsgiToWsgi"), name
    plan = make_plan(wsgi, WSGI, SERVERS["granian-asgi"], Options("x", threads=3))
    assert (plan.speaks, plan.wrapping, plan.pool_threads) == (
        ASGI3,
        "through bridge.WsgiToAsgi",
        3,
    )
    plan = make_plan(asgi, ASGI3, SERVERS["gunicorn-gevent"], Options("x"))
    assert plan.worker_class == "gevent"
    plan = make_plan(asgi, ASGI3, SERVERS["uwsgi"], Options("x", workers=4, threads=8))
    assert plan.pool_threads is None  # uWSGI's own --threads


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--server", "cheroot", "--workers", "2"], "cheroot runs one process"),
        (["--server", "gunicorn-gevent", "--threads", "4"], "gunicorn-gevent has none"),
        (["--server", "uwsgi", "--reload"], "uwsgi has no reloader of its own"),
        (["--server", "mod_wsgi", "--worker-class", "x"], "mod_wsgi has no worker classes"),
    ],
)
def test_options_the_new_hosts_lack_exit_2(
    app_module: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    message: str,
) -> None:
    monkeypatch.setattr(serve_module, "server_installed", lambda server: True)
    monkeypatch.setattr("os.geteuid", lambda: 1000, raising=False)  # mod_wsgi refuses root
    assert main(["serve", "cli_apps:asgi_app", *args]) == 2
    err = capsys.readouterr().err
    assert message in err
    if "--workers" in args:  # the list of servers that have several comes from the registry
        assert "use uvicorn, hypercorn, granian, gunicorn, uwsgi or mod_wsgi for several" in err


def test_missing_new_hosts_name_what_installs_them(
    app_module: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(serve_module, "is_installed", lambda package: package != "mod_wsgi")
    assert main(["serve", "cli_apps:asgi_app", "--server", "mod_wsgi"]) == 3
    err = capsys.readouterr().err
    assert (
        "server 'mod_wsgi' is not installed: apt-get install apache2-dev (Apache's development "
        "files, on Debian or Ubuntu), then pip install mod_wsgi"
    ) in err
    monkeypatch.setattr(serve_module, "program", lambda name: None)  # no uwsgi binary
    assert main(["serve", "cli_apps:asgi_app", "--server", "uwsgi"]) == 3
    assert "server 'uwsgi' is not installed: pip install 'wsgi-asgi-bridge[uwsgi]'" in (
        capsys.readouterr().err
    )
    monkeypatch.setattr(serve_module, "is_installed", lambda package: package != "gevent")
    assert main(["serve", "cli_apps:asgi_app", "--server", "gunicorn-gevent"]) == 3
    assert "pip install 'wsgi-asgi-bridge[gevent]'" in capsys.readouterr().err
    monkeypatch.setattr(serve_module, "is_installed", lambda package: package != "cheroot")
    assert main(["serve", "cli_apps:asgi_app", "--server", "cheroot"]) == 3
    assert "pip install 'wsgi-asgi-bridge[cheroot]'" in capsys.readouterr().err


def test_mod_wsgi_as_root_is_refused_before_apache_starts(
    app_module: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(serve_module, "server_installed", lambda server: True)
    monkeypatch.setattr("os.geteuid", lambda: 0, raising=False)
    started: list[object] = []
    monkeypatch.setattr("bridge._serve._base.subprocess.Popen", started.append)
    with socket.socket() as probe:  # a port that is free now
        probe.bind(("127.0.0.1", 0))
        port = str(probe.getsockname()[1])
    assert main(["serve", "cli_apps:asgi_app", "--server", "mod_wsgi", "--port", port]) == 2
    assert "Apache does not serve as root" in capsys.readouterr().err
    assert started == []
