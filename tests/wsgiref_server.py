"""`python tests/wsgiref_server.py PORT MODULE:ATTR`: a threading wsgiref server for tests."""

from __future__ import annotations

import importlib
import signal
import sys
from socketserver import ThreadingMixIn
from types import FrameType
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server


class ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def main() -> None:
    port, target = int(sys.argv[1]), sys.argv[2]
    module, _, attr = target.partition(":")
    app = getattr(importlib.import_module(module), attr)
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
