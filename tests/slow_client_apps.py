"""Apps for tests/test_slow_clients_real_servers.py, served by uvicorn.

``small_pool`` is a Flask app through ``WsgiToAsgi`` with two worker threads and
a short ``body_timeout``; ``small_pool_lazy`` is the same without pre-reading
(``preread_size=0``), the behaviour before issue 14.
"""

from __future__ import annotations

from flask import Flask, request

from bridge import WsgiToAsgi

flask_app = Flask(__name__)


@flask_app.get("/hello")
def hello() -> str:
    return "hello"


@flask_app.post("/upload")
def upload() -> str:
    return f"got {len(request.get_data())}"


small_pool = WsgiToAsgi(flask_app, workers=2, body_timeout=1.0)
small_pool_lazy = WsgiToAsgi(flask_app, workers=2, preread_size=0, body_timeout=1.0)
