"""The ``bridge`` command: ``bridge inspect TARGET`` and ``bridge serve TARGET``.

Theory of operation: both commands load the target (:mod:`bridge._cli_load`),
tell its interface (:mod:`bridge._detect`, or ``--interface``), and consult
the server table in :mod:`bridge._serve`. ``inspect`` prints what the app is
and how each server would run it; ``serve`` runs it, wrapped in the bridge
when the server speaks the other interface. Errors are :class:`CliError`
messages with the fix, and exit with the codes in :data:`EPILOG`.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ._cli_load import EXIT_LOAD, CliError, load_app
from ._detect import ASGI2, ASGI3, WSGI, interface_of
from ._serve import (
    LOG_LEVELS,
    NAMES,
    SERVERS,
    Options,
    default_server,
    install_hint,
    make_plan,
    serve,
    server_installed,
)
from ._version import __version__

EPILOG = """\
TARGET is MODULE:ATTR ('myproject.web:app'), a factory call with literal
arguments ('myproject.web:create_app()', 'web:create_app("prod", debug=True)'),
or a file path ('examples/flask_app.py:app'). Without :ATTR, 'app' and then
'application' are used.

exit codes:
  0  stopped cleanly (Ctrl-C or SIGTERM; lifespan shutdown has run)
  1  the app could not be loaded: module or file not found, attribute
     missing, not a WSGI/ASGI app, or its import or factory raised
  2  usage error: bad arguments, or an option the chosen server does not
     have (--reload, --workers, --threads, --worker-class)
  3  the chosen server is not installed (the message gives the pip command)
  4  cannot listen on --host/--port (port in use, no permission)
  5  the server started but stopped with an error (its output says why)
"""


def _kind(app: Any, forced: str | None) -> str:
    if forced:
        return forced
    try:
        return interface_of(app)
    except TypeError as exc:
        raise CliError(f"not an app: {exc}", EXIT_LOAD) from None


def _describe(app: Any, kind: str) -> str:
    from . import AsgiToWsgi, WsgiToAsgi  # noqa: PLC0415

    text = f"{NAMES[kind]} application"
    if isinstance(app, WsgiToAsgi):
        text += " (a bridge.WsgiToAsgi around a WSGI app)"
    elif isinstance(app, AsgiToWsgi):
        text += " (a bridge.AsgiToWsgi around an ASGI app)"
    return text


def cmd_inspect(args: argparse.Namespace) -> int:
    app = load_app(args.app)
    kind = _kind(app, args.interface)
    print(f"{args.app}: {_describe(app, kind)}")
    print("installed servers that can run it:")
    missing = []
    width = max(map(len, SERVERS)) + 1
    for name, server in SERVERS.items():
        if not server_installed(server):
            missing.append(f"  {name:{width}}{install_hint(server)}")
            continue
        plan = make_plan(app, kind, server, Options(args.app))
        how = plan.wrapping
        if "gunicorn" in (name, server.variant_of):
            how += f" (worker class {plan.worker_class})"
        note = f"; {server.note}" if server.note else ""
        print(f"  {name:{width}}{how}{note}")
    if missing:
        print("not installed:")
        print("\n".join(missing))
    print(f"default server: {default_server(kind)} (bridge serve {args.app})")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    app = load_app(args.app)
    kind = _kind(app, args.interface)
    options = Options(
        target=args.app,
        interface=args.interface,
        server=args.server,
        host=args.host,
        port=args.port,
        workers=args.workers,
        threads=args.threads,
        root_path=args.root_path,
        log_level=args.log_level,
        reload=args.reload,
        worker_class=args.worker_class,
    )
    return serve(app, kind, options)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError("a port is 0 to 65535")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bridge",
        description="Inspect a WSGI or ASGI app, or serve it on any server, bridged as needed.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"bridge {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    inspect = commands.add_parser(
        "inspect",
        help="print what the app is and which installed servers can run it",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve_parser = commands.add_parser(
        "serve",
        help="run the app on a server, wrapped in the bridge when needed",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    for sub, func in ((inspect, cmd_inspect), (serve_parser, cmd_serve)):
        sub.add_argument("app", metavar="TARGET", help="MODULE:ATTR, MODULE:factory(), or FILE.py")
        sub.add_argument(
            "--interface",
            choices=[WSGI, ASGI3, ASGI2],
            help="what the app is, when detection cannot tell",
        )
        sub.set_defaults(func=func)
    s = serve_parser
    s.add_argument(
        "--server",
        choices=list(SERVERS),
        help="default: uvicorn for an ASGI app when installed, else wsgiref (standard library)",
    )
    s.add_argument("--host", default="127.0.0.1", help="default: %(default)s")
    s.add_argument("--port", type=_port, default=8000, help="default: %(default)s")
    s.add_argument(
        "--workers",
        type=_positive,
        metavar="N",
        help="worker processes (uvicorn, hypercorn, granian, gunicorn, uwsgi, mod_wsgi)",
    )
    s.add_argument(
        "--threads",
        type=_positive,
        metavar="N",
        help="threads for a WSGI app: the pool of gunicorn, waitress, granian, cheroot, "
        "uwsgi or mod_wsgi, or bridge.WsgiToAsgi's on an ASGI server",
    )
    s.add_argument("--root-path", default="", metavar="P", help="the URL prefix the app is under")
    s.add_argument("--log-level", choices=LOG_LEVELS, default="info")
    s.add_argument(
        "--reload",
        action="store_true",
        help="restart on code changes, with the server's own reloader "
        "(uvicorn, hypercorn, granian, gunicorn, werkzeug)",
    )
    s.add_argument(
        "--worker-class",
        metavar="NAME",
        help="hypercorn: asyncio, uvloop or trio; gunicorn: any (sync, gthread, "
        "uvicorn_worker.UvicornWorker, ...)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except CliError as exc:
        print(f"bridge: error: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
