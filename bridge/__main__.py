"""The ``bridge`` command: ``bridge inspect MODULE:ATTR`` and ``bridge serve MODULE:ATTR``.

``serve`` wraps the app when the chosen server speaks the other interface:
a WSGI app on ``uvicorn`` goes through :class:`bridge.WsgiToAsgi`, an ASGI app on
``wsgiref`` through :class:`bridge.AsgiToWsgi`. ``wsgiref`` (standard library)
always works; ``uvicorn`` is used by default for ASGI-speaking runs when it is
installed. Exit codes: 0 success, 1 the app could not be loaded, 2 usage
errors (argparse), 3 the server is not installed or could not start.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys
from typing import Any

from ._detect import ASGI2, ASGI3, WSGI, interface_of
from ._version import __version__

SERVERS = {"wsgiref": WSGI, "uvicorn": ASGI3}
INSTALL_HINT = {"uvicorn": "pip install 'wsgi-asgi-bridge[serve]'"}


class CliError(Exception):
    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def load_app(target: str) -> Any:
    """Import ``MODULE:ATTR`` (``ATTR`` may be ``factory()``)."""
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        raise CliError(f"expected MODULE:ATTR, such as 'myproject.app:app', got {target!r}", 1)
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise CliError(
                f"module {module_name!r} not found: run from the directory that contains it, "
                "or add that directory to PYTHONPATH",
                1,
            ) from exc
        raise
    call = attr.endswith("()")
    name = attr[:-2] if call else attr
    try:
        app = getattr(module, name)
    except AttributeError:
        raise CliError(f"module {module_name!r} has no attribute {name!r}", 1) from None
    return app() if call else app


def _server_installed(name: str) -> bool:
    return name == "wsgiref" or importlib.util.find_spec(name) is not None


def _default_server(kind: str) -> str:
    if kind != WSGI and _server_installed("uvicorn"):
        return "uvicorn"
    return "wsgiref"


def _adapt(app: Any, kind: str, server_speaks: str) -> Any:
    from . import AsgiToWsgi, WsgiToAsgi  # noqa: PLC0415 - keep `inspect` light

    if server_speaks == WSGI:
        return app if kind == WSGI else AsgiToWsgi(app)
    return WsgiToAsgi(app) if kind == WSGI else app


def cmd_inspect(args: argparse.Namespace) -> int:
    app = load_app(args.app)
    kind = args.interface or interface_of(app)
    print(f"{args.app}: {dict(wsgi='WSGI', asgi3='ASGI 3', asgi2='ASGI 2')[kind]} application")
    for server, speaks in SERVERS.items():
        installed = _server_installed(server)
        if speaks == WSGI:
            wrapping = "as is" if kind == WSGI else "through bridge.AsgiToWsgi"
        else:
            wrapping = "through bridge.WsgiToAsgi" if kind == WSGI else "as is"
        state = "installed" if installed else f"not installed ({INSTALL_HINT[server]})"
        print(f"  {server:8} {wrapping:28} {state}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    app = load_app(args.app)
    kind = args.interface or interface_of(app)
    server = args.server or _default_server(kind)
    if not _server_installed(server):
        raise CliError(f"server {server!r} is not installed: {INSTALL_HINT[server]}", 3)
    served = _adapt(app, kind, SERVERS[server])
    if server == "uvicorn":
        import uvicorn  # noqa: PLC0415

        uvicorn.run(served, host=args.host, port=args.port, root_path=args.root_path)
        return 0
    from socketserver import ThreadingMixIn  # noqa: PLC0415
    from wsgiref.simple_server import WSGIServer, make_server  # noqa: PLC0415

    class ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
        daemon_threads = True

    try:
        httpd = make_server(args.host, args.port, served, server_class=ThreadingWSGIServer)
    except OSError as exc:
        raise CliError(f"cannot listen on {args.host}:{args.port}: {exc.strerror}", 3) from exc
    print(f"bridge: serving {args.app} on http://{args.host}:{args.port} (wsgiref)", flush=True)
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        httpd.server_close()
        close = getattr(served, "close", None)
        if close is not None and served is not app:
            close()  # lifespan shutdown for a bridged ASGI app
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bridge", description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", action="version", version=f"bridge {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    for name, func in (("inspect", cmd_inspect), ("serve", cmd_serve)):
        sub = commands.add_parser(name)
        sub.add_argument("app", help="MODULE:ATTR, or MODULE:factory()")
        sub.add_argument("--interface", choices=[WSGI, ASGI3, ASGI2])
        sub.set_defaults(func=func)
        if name == "serve":
            sub.add_argument("--server", choices=sorted(SERVERS))
            sub.add_argument("--host", default="127.0.0.1")
            sub.add_argument("--port", type=int, default=8000)
            sub.add_argument("--root-path", default="")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except CliError as exc:
        print(f"bridge: error: {exc}", file=sys.stderr)
        return exc.code
    except TypeError as exc:
        print(f"bridge: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
