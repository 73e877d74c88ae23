"""Entry module for servers that load an app by import path: ``bridge._cli_entry:app``.

Theory of operation: ``bridge serve`` writes its plan as JSON to the
``BRIDGE_SERVE_SPEC`` environment variable and points gunicorn, daphne, granian,
hypercorn, or uvicorn with ``--reload``/``--workers`` at ``bridge._cli_entry:app``.
Importing this module (in the server's own process, a forked or spawned worker,
or a reloaded one) loads the user's target the same way the command did and
wraps it for the interface the server speaks. It is a fixed module, not a
generated file, so nothing is left behind on disk.
"""

from __future__ import annotations

import json
import os
from typing import Any

from ._cli_load import load_app
from ._serve import SPEC_ENV, served_app


def _build() -> Any:
    text = os.environ.get(SPEC_ENV)
    if not text:
        raise RuntimeError(
            f"bridge._cli_entry is the entry point of `bridge serve`; {SPEC_ENV} is not set. "
            "Point your server at your own app instead, or run `bridge serve MODULE:ATTR`."
        )
    spec = json.loads(text)
    return served_app(
        load_app(spec["target"]), spec["interface"], spec["speaks"], spec["pool_threads"]
    )


app = _build()
