"""Load the application named on the ``bridge`` command line.

Theory of operation: a target is ``MODULE[:EXPR]`` where ``MODULE`` is a dotted
module name or a path to a ``.py`` file, and ``EXPR`` is an attribute path
(``app``, ``api.app``) optionally called with literal arguments
(``create_app()``, ``create_app("prod", debug=False)``). The call's arguments
are parsed with :mod:`ast` and evaluated with :func:`ast.literal_eval`, so
nothing but literals is ever evaluated. Without ``EXPR`` the module's ``app``
(then ``application``, Django's name) is used.

Every failure becomes a :class:`CliError` whose message says how to fix it and
whose ``code`` is the command's exit status. A loaded target is cached, so the
entry module that import-path servers load (``bridge._cli_entry``) gets the
very object the command already checked when both run in one process.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import os
import sys
import traceback
from pathlib import Path
from typing import Any

# Exit codes of the ``bridge`` command (documented in its --help and docs/cli.md).
EXIT_OK = 0
EXIT_LOAD = 1
EXIT_USAGE = 2
EXIT_NOT_INSTALLED = 3
EXIT_LISTEN = 4
EXIT_SERVER = 5

DEFAULT_NAMES = ("app", "application")

_cache: dict[str, Any] = {}


class CliError(Exception):
    """A failure of the ``bridge`` command, with its exit code."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def _is_path(module: str) -> bool:
    return module.endswith(".py") or "/" in module or os.sep in module


def absolute_target(target: str) -> str:
    """The same target with a relative file path made absolute (for child processes)."""
    module, sep, expr = _split(target)
    if _is_path(module):
        module = str(Path(module).resolve())
    return module + sep + expr


def _split(target: str) -> tuple[str, str, str]:
    # A Windows drive letter ("C:\\app.py") is not the MODULE:EXPR separator.
    start = 2 if len(target) > 2 and target[1] == ":" and target[2] in "\\/" else 0
    index = target.find(":", start)
    if index < 0:
        return target, "", ""
    return target[:index], ":", target[index + 1 :]


def _import_file(path_text: str) -> Any:
    path = Path(path_text).resolve()
    if path.is_dir():
        init = path / "__init__.py"
        if not init.is_file():
            raise CliError(f"{path_text!r} is a directory, not a Python file", EXIT_LOAD)
        path = init
    if not path.is_file():
        raise CliError(
            f"file {path_text!r} not found (looked for {path}); check the path, "
            "which is relative to the current directory",
            EXIT_LOAD,
        )
    name = path.parent.name if path.name == "__init__.py" else path.stem
    # A name already taken by another module (a file called http.py while the
    # standard library's http is imported) must not be overwritten: the file is
    # imported under a private name instead. The same file is never run twice.
    candidates = [name, f"_bridge_app_{name}"]
    candidates += (f"_bridge_app_{name}_{n}" for n in range(2, 100))
    for candidate in candidates:
        existing = sys.modules.get(candidate)
        if existing is None:
            name = candidate
            break
        if _module_file(existing) == path:
            return existing
    else:
        raise CliError(f"cannot import {path_text!r}: too many modules named {name!r}", EXIT_LOAD)
    folder = str(path.parent.parent if path.name == "__init__.py" else path.parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)  # so the file's own sibling imports work
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise CliError(f"cannot import {path_text!r}: not a Python source file", EXIT_LOAD)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def _module_file(module: Any) -> Path | None:
    file = getattr(module, "__file__", None)
    if not isinstance(file, str):
        return None
    try:
        return Path(file).resolve()
    except (OSError, RuntimeError):
        return None


def _import_module(name: str) -> Any:
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name and (name == exc.name or name.startswith(exc.name + ".")):
            raise CliError(
                f"module {name!r} not found: run bridge from the directory that contains it, "
                "add that directory to PYTHONPATH, or give the file's path "
                "(such as 'src/myapp.py:app')",
                EXIT_LOAD,
            ) from exc
        raise


def _parse_expr(expr: str) -> tuple[list[str], ast.Call | None]:
    """``"a.b(1, x=2)"`` -> (["a", "b"], the Call node); literal-only arguments."""
    try:
        node = ast.parse(expr.strip(), mode="eval").body
    except (SyntaxError, ValueError, MemoryError, RecursionError):  # ValueError: a NUL
        node = None
    call = None
    if isinstance(node, ast.Call):
        call, node = node, node.func
    names: list[str] = []
    while isinstance(node, ast.Attribute):
        names.insert(0, node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        raise CliError(
            f"cannot read {expr!r}: after the colon give an attribute such as 'app', "
            "or a factory call such as 'create_app()' or 'create_app(\"prod\", debug=True)'",
            EXIT_LOAD,
        )
    names.insert(0, node.id)
    if call is not None:
        # Before literal_eval, which would reject them with a less precise message.
        if any(keyword.arg is None for keyword in call.keywords) or any(
            isinstance(argument, ast.Starred) for argument in call.args
        ):
            raise CliError(f"no *args or **kwargs in {expr!r}, only literals", EXIT_LOAD)
        for argument in [*call.args, *(keyword.value for keyword in call.keywords)]:
            _literal(argument, expr)
    return names, call


def _literal(node: ast.expr, expr: str) -> Any:
    """The value of one factory argument, or a clear :class:`CliError`."""
    try:
        return ast.literal_eval(node)
    except _BAD_LITERAL:
        # ValueError: not a literal; TypeError: an unhashable dict key or set item
        # ({[1]: 2}); the rest: literals too big or too deeply nested to build.
        raise CliError(
            f"the arguments in {expr!r} must be Python literals "
            "(strings, numbers, True/False/None, lists, dicts with hashable keys)",
            EXIT_LOAD,
        ) from None


_BAD_LITERAL = (ValueError, TypeError, SyntaxError, MemoryError, RecursionError)


def _user_code_failed(what: str, exc: BaseException) -> CliError:
    traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
    return CliError(f"{what} raised {type(exc).__name__}: {exc} (traceback above)", EXIT_LOAD)


def load_app(target: str) -> Any:
    """Import the object ``target`` names; raise :class:`CliError` with a fix otherwise."""
    target = target.strip()
    cached = _cache.get(target)
    if cached is not None:
        return cached
    module_name, _, expr = _split(target)
    if not module_name:
        raise CliError(
            f"expected MODULE:ATTR (such as 'myproject.app:app' or 'app.py:app'), got {target!r}",
            EXIT_LOAD,
        )
    try:
        module = _import_file(module_name) if _is_path(module_name) else _import_module(module_name)
    except CliError:
        raise
    except (Exception, SystemExit) as exc:
        raise _user_code_failed(f"importing {module_name!r}", exc) from exc
    if not expr:
        for name in DEFAULT_NAMES:
            if hasattr(module, name):
                expr = name
                break
        else:
            raise CliError(
                f"module {module_name!r} has no 'app' or 'application': "
                f"name the app as {module_name}:ATTR",
                EXIT_LOAD,
            )
    names, call = _parse_expr(expr)
    obj: Any = module
    for depth, name in enumerate(names):
        try:
            obj = getattr(obj, name)
        except AttributeError:
            where = ".".join([module_name, *names[:depth]]) if depth else f"module {module_name!r}"
            public = sorted(n for n in dir(obj) if not n.startswith("_"))[:12]
            raise CliError(
                f"{where} has no attribute {name!r}"
                + (f"; it has: {', '.join(public)}" if public else ""),
                EXIT_LOAD,
            ) from None
    if call is not None:
        args = [_literal(argument, expr) for argument in call.args]
        kwargs = {str(k.arg): _literal(k.value, expr) for k in call.keywords}
        if not callable(obj):
            raise CliError(f"{'.'.join(names)} is not callable, so it is no factory", EXIT_LOAD)
        try:
            obj = obj(*args, **kwargs)
        except (Exception, SystemExit) as exc:
            raise _user_code_failed(f"calling {expr.strip()}", exc) from exc
    _cache[target] = obj
    return obj
