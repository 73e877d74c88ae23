"""`python tests/wsgiref_server.py PORT MODULE:ATTR [wsgiref|werkzeug]`: a threading test server.

``wsgiref`` (the default) is the standard library's server; ``werkzeug`` is
werkzeug's development server (threaded). Both stop on SIGTERM and then call
the app's ``close()`` if it has one.
"""

from __future__ import annotations

import importlib
import signal
import sys
from socketserver import ThreadingMixIn
from types import FrameType
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server


class ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def main() -> None:
    port, target = int(sys.argv[1]), sys.argv[2]
    kind = sys.argv[3] if len(sys.argv) > 3 else "wsgiref"
    module, _, attr = target.partition(":")
    app = getattr(importlib.import_module(module), attr)
    server: Any
    if kind == "werkzeug":
        from werkzeug.serving import make_server as make_werkzeug_server

        server = make_werkzeug_server("127.0.0.1", port, app, threaded=True)
    else:
        server = make_server(
            "127.0.0.1", port, app, server_class=ThreadingWSGIServer, handler_class=QuietHandler
        )

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        close = getattr(app, "close", None)
        if close is not None:
            close()


if __name__ == "__main__":
    main()
