"""Entry module for servers that load an app by import path: ``bridge._cli_entry:app``.

Theory of operation: ``bridge serve`` writes its plan as JSON to the
``BRIDGE_SERVE_SPEC`` environment variable and points gunicorn, daphne, granian,
uWSGI, mod_wsgi-express, hypercorn, or uvicorn with ``--reload``/``--workers``
at ``bridge._cli_entry:app``. Importing this module (in the server's own
process, a forked or spawned worker, or a reloaded one) loads the user's target
the same way the command did and wraps it for the interface the server speaks;
with ``"mount"`` in the plan (a server without a root-path option) it also
mounts the app at ``--root-path``. It is a fixed module, not a generated file,
so nothing is left behind on disk.

An ``AsgiToWsgi`` made here runs its lifespan shutdown when the worker exits,
as any ``AsgiToWsgi`` does (bridge/_hosts.py: also on granian's and other
multiprocessing workers, which skip ``atexit``, and in mod_wsgi).
"""

from __future__ import annotations

import json
import os
from typing import Any

from ._cli_load import load_app
from ._serve._base import SPEC_ENV, mounted, served_app


def _build() -> Any:
    text = os.environ.get(SPEC_ENV)
    if not text:
        raise RuntimeError(
            f"bridge._cli_entry is the entry point of `bridge serve`; {SPEC_ENV} is not set. "
            "Point your server at your own app instead, or run `bridge serve MODULE:ATTR`."
        )
    spec = json.loads(text)
    loaded = load_app(spec["target"])
    served = served_app(loaded, spec["interface"], spec["speaks"], spec["pool_threads"])
    return mounted(served, spec["root_path"]) if spec.get("mount") else served


app = _build()
