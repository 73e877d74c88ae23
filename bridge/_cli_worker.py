"""The gunicorn worker class ``bridge serve --server gunicorn`` uses for ASGI apps.

Theory of operation: the ``uvicorn-worker`` package's ``UvicornWorker`` runs
uvicorn inside a gunicorn worker process, but takes its settings from
gunicorn's, which have no ASGI root path. This subclass adds ``--root-path``
from the ``bridge serve`` plan (``BRIDGE_SERVE_SPEC``) and changes nothing else.
"""

from __future__ import annotations

import json
import os
from typing import Any

from uvicorn_worker import UvicornWorker as _UvicornWorker  # type: ignore[import-untyped]

from ._serve._base import SPEC_ENV


class UvicornWorker(_UvicornWorker):  # type: ignore[misc]
    CONFIG_KWARGS: dict[str, Any] = {
        **_UvicornWorker.CONFIG_KWARGS,
        "root_path": json.loads(os.environ.get(SPEC_ENV) or "{}").get("root_path", ""),
    }
