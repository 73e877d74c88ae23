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

An ``AsgiToWsgi`` made here runs its lifespan shutdown from an ``atexit``
hook, which two hosts skip: uWSGI runs ``uwsgi.atexit`` instead, and a
:mod:`multiprocessing` worker (granian's) ends with ``os._exit()`` after
running only multiprocessing's own finalizers. So the shutdown is registered
with those as well; ``close()`` runs it once whichever comes first.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import sys
from typing import Any

from ._cli_load import load_app
from ._serve._base import SPEC_ENV, mounted, served_app


def _close_on_host_exit(bridged: Any) -> None:
    from multiprocessing.util import Finalize  # noqa: PLC0415

    if multiprocessing.parent_process() is not None:
        Finalize(None, bridged.close, exitpriority=10)
    uwsgi: Any = sys.modules.get("uwsgi")  # the module uWSGI embeds; never importable elsewhere
    if uwsgi is not None:
        uwsgi.atexit = bridged.close


def _build() -> Any:
    from . import AsgiToWsgi  # noqa: PLC0415

    text = os.environ.get(SPEC_ENV)
    if not text:
        raise RuntimeError(
            f"bridge._cli_entry is the entry point of `bridge serve`; {SPEC_ENV} is not set. "
            "Point your server at your own app instead, or run `bridge serve MODULE:ATTR`."
        )
    spec = json.loads(text)
    loaded = load_app(spec["target"])
    served = served_app(loaded, spec["interface"], spec["speaks"], spec["pool_threads"])
    if served is not loaded and isinstance(served, AsgiToWsgi):
        _close_on_host_exit(served)
    return mounted(served, spec["root_path"]) if spec.get("mount") else served


app = _build()
