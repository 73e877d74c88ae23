"""Apps for tests/test_slow_clients_real_servers.py and test_slow_readers_real_servers.py.

``small_pool`` is a Flask app through ``WsgiToAsgi`` with two worker threads and
a short ``body_timeout``; ``small_pool_lazy`` is the same without pre-reading
(``preread_size=0``), the behaviour before issue 14. ``/download?id=N`` streams
``DOWNLOAD_CHUNKS`` chunks of 64 KiB and records how many it produced and
whether it was closed, which ``/progress?id=N`` tells.
"""

from __future__ import annotations

from collections.abc import Iterator

from flask import Flask, Response, request

from bridge import WsgiToAsgi

flask_app = Flask(__name__)


@flask_app.get("/hello")
def hello() -> str:
    return "hello"


@flask_app.post("/upload")
def upload() -> str:
    return f"got {len(request.get_data())}"


DOWNLOAD_CHUNKS = 512  # 32 MiB: far more than loopback's socket buffers swallow
CHUNK = b"d" * 65536
produced: dict[str, int] = {}
closed: set[str] = set()


@flask_app.get("/download")
def download() -> Response:
    key = request.args["id"]
    produced[key] = 0

    def generate() -> Iterator[bytes]:
        try:
            for _ in range(DOWNLOAD_CHUNKS):
                produced[key] += 1
                yield CHUNK
        finally:
            closed.add(key)

    headers = {"Content-Length": str(DOWNLOAD_CHUNKS * len(CHUNK))}
    return Response(generate(), mimetype="application/octet-stream", headers=headers)


@flask_app.get("/progress")
def progress() -> str:
    key = request.args["id"]
    return f"{produced.get(key, -1)} {'closed' if key in closed else 'open'}"


small_pool = WsgiToAsgi(flask_app, workers=2, body_timeout=1.0)
small_pool_lazy = WsgiToAsgi(flask_app, workers=2, preread_size=0, body_timeout=1.0)
