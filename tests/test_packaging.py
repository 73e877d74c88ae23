"""Packaging: the sdist and wheel build, carry the right files, and install into a clean venv.

``python -m build`` makes the sdist and then the wheel *from that sdist* (its default),
so a file missing from the sdist breaks the wheel build here rather than for a user.
The wheel is installed with its dependencies (from the pip cache, else the package
index) into a fresh virtual environment outside the source tree, where the installed
``bridge`` command inspects a small WSGI app and a small ASGI app.
"""

from __future__ import annotations

import ast
import email.parser
import os
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parent.parent
BUILD_TIMEOUT = 600
INSTALL_TIMEOUT = 600
RUN_TIMEOUT = 60

SMALL_APPS = """
def wsgi_app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello"]


async def asgi_app(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"hello"})
"""


def source_version() -> str:
    """``__version__`` as written in ``bridge/_version.py``, read without importing it."""
    tree = ast.parse((ROOT / "bridge" / "_version.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and [t.id for t in node.targets if isinstance(t, ast.Name)] == ["__version__"]
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            return node.value.value
    raise AssertionError("bridge/_version.py does not assign a string to __version__")


def run(args: list[str], *, cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    result = subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert result.returncode == 0, (
        f"{args} exited {result.returncode}\nstdout:\n{result.stdout[-4000:]}\n"
        f"stderr:\n{result.stderr[-4000:]}"
    )
    return result


@dataclass
class Built:
    sdist: Path
    wheel: Path


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    out = tmp_path_factory.mktemp("dist")
    run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)],
        cwd=out,
        timeout=BUILD_TIMEOUT,
    )
    sdists = sorted(out.glob("*.tar.gz"))
    wheels = sorted(out.glob("*.whl"))
    assert len(sdists) == 1, sdists
    assert len(wheels) == 1, wheels
    return Built(sdist=sdists[0], wheel=wheels[0])


@pytest.fixture(scope="module")
def venv(built: Built, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv, outside the source tree, with the built wheel and its dependencies."""
    home = tmp_path_factory.mktemp("venv")
    run([sys.executable, "-m", "venv", str(home / "env")], cwd=home, timeout=INSTALL_TIMEOUT)
    python = home / "env" / "bin" / "python"
    run(
        [str(python), "-m", "pip", "install", "-q", str(built.wheel)],
        cwd=home,
        timeout=INSTALL_TIMEOUT,
    )
    return home / "env"


def test_file_names_carry_the_version_from_bridge_version_py(built: Built) -> None:
    version = source_version()
    assert built.sdist.name == f"wsgi_asgi_bridge-{version}.tar.gz"
    assert built.wheel.name.startswith(f"wsgi_asgi_bridge-{version}-")
    assert built.wheel.name.endswith("-py3-none-any.whl")


def test_metadata_versions_match_bridge_version_py(built: Built) -> None:
    version = source_version()
    with zipfile.ZipFile(built.wheel) as wheel:
        (metadata_name,) = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
        wheel_meta = email.parser.Parser().parsestr(wheel.read(metadata_name).decode())
    with tarfile.open(built.sdist) as sdist:
        pkg_info = sdist.extractfile(f"wsgi_asgi_bridge-{version}/PKG-INFO")
        assert pkg_info is not None
        sdist_meta = email.parser.Parser().parsestr(pkg_info.read().decode())
    for meta in (wheel_meta, sdist_meta):
        assert meta["Name"] == "wsgi-asgi-bridge"
        assert meta["Version"] == version
        assert meta["Requires-Python"] == ">=3.10"


def test_wheel_holds_the_package_and_py_typed_and_no_tests(built: Built) -> None:
    with zipfile.ZipFile(built.wheel) as wheel:
        names = set(wheel.namelist())
        entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
        scripts = wheel.read(entry_points).decode()
    assert "bridge/py.typed" in names
    assert {"bridge/__init__.py", "bridge/__main__.py", "bridge/_version.py"} <= names
    assert not any(n.startswith(("tests/", "docs/", "examples/", "benchmarks/")) for n in names)
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names), sorted(names)
    assert "bridge = bridge.__main__:main" in scripts


def test_sdist_holds_tests_docs_and_license(built: Built) -> None:
    prefix = f"wsgi_asgi_bridge-{source_version()}/"
    with tarfile.open(built.sdist) as sdist:
        names = {n.removeprefix(prefix) for n in sdist.getnames()}
    expected = {
        "LICENSE",
        "README.md",
        "pyproject.toml",
        "setup.cfg",
        "mkdocs.yml",
        "tox.ini",
        "bridge/py.typed",
        "bridge/_version.py",
        "tests/conftest.py",
        "tests/test_packaging.py",
        "docs/index.md",
        "docs/api.md",
    }
    assert expected <= names, sorted(expected - names)
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)


def test_installed_bridge_inspect_reports_each_kind_of_app(venv: Path, tmp_path: Path) -> None:
    (tmp_path / "small_apps.py").write_text(SMALL_APPS, encoding="utf-8")
    bridge_command = venv / "bin" / "bridge"
    assert bridge_command.exists()

    wsgi = run(
        [str(bridge_command), "inspect", "small_apps:wsgi_app"], cwd=tmp_path, timeout=RUN_TIMEOUT
    )
    first = wsgi.stdout.splitlines()[0]
    assert "small_apps:wsgi_app" in first
    assert "WSGI" in first and "ASGI" not in first
    assert "wsgiref" in wsgi.stdout

    asgi = run(
        [str(bridge_command), "inspect", "small_apps:asgi_app"], cwd=tmp_path, timeout=RUN_TIMEOUT
    )
    assert "ASGI 3" in asgi.stdout.splitlines()[0]


def test_installed_package_is_the_wheel_not_the_source_tree(venv: Path, tmp_path: Path) -> None:
    probe = "import bridge, sys; print(bridge.__file__); print(bridge.__version__)"
    result = run([str(venv / "bin" / "python"), "-c", probe], cwd=tmp_path, timeout=RUN_TIMEOUT)
    location, version = result.stdout.split()
    assert Path(location).resolve().is_relative_to(venv.resolve())
    assert not Path(location).resolve().is_relative_to(ROOT)
    assert version == source_version()
    typed = Path(location).parent / "py.typed"
    assert typed.is_file()


def test_installed_command_and_module_report_the_same_version(venv: Path, tmp_path: Path) -> None:
    version = source_version()
    script = run([str(venv / "bin" / "bridge"), "--version"], cwd=tmp_path, timeout=RUN_TIMEOUT)
    module = run(
        [str(venv / "bin" / "python"), "-m", "bridge", "--version"],
        cwd=tmp_path,
        timeout=RUN_TIMEOUT,
    )
    for result in (script, module):
        assert version in (result.stdout + result.stderr).split()
