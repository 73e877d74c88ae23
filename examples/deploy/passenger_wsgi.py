"""Phusion Passenger's entry file: ``passenger_wsgi.py`` in the application root.

Passenger's Python loader imports this file and serves its ``application``, a
WSGI callable, so an ASGI app goes through ``bridge.AsgiToWsgi``. Here that is
examples/fastapi_app.py's ``app`` (FastAPI, already wrapped); in a project of
your own, import your ``AsgiToWsgi`` object the same way. The bridge's event
loop thread starts in each Passenger process on its first request, and with it
the app's lifespan startup. tests/test_cli_recipes.py serves a request through it.
"""

import sys
from pathlib import Path

# Passenger starts in the application root; the app's own folder goes on sys.path.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fastapi_app import app as application

__all__ = ["application"]
