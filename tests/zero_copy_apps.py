"""An app for tests/test_zero_copy_wsgi_to_asgi.py, served by granian (which offers pathsend).

``recorded`` is Flask's ``send_file`` of a file made at import, through
``WsgiToAsgi``, inside an ASGI layer that notes the type of every message the
bridge sends; ``GET /sent`` answers them, space-separated, from the loop.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from flask import Flask, send_file

from bridge import WsgiToAsgi

FILE_SIZE = 1 << 20
_folder = Path(tempfile.mkdtemp(prefix="zero-copy-"))
DATA = _folder / "data.bin"
DATA.write_bytes(bytes(range(256)) * (FILE_SIZE // 256))

flask_app = Flask(__name__)


@flask_app.get("/file")
def file() -> Any:
    return send_file(DATA, mimetype="application/octet-stream")


bridged = WsgiToAsgi(flask_app)
sent: list[str] = []


async def recorded(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "http" and scope["path"] == "/sent":
        body = " ".join(sent).encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", str(len(body)).encode())]})  # fmt: skip
        await send({"type": "http.response.body", "body": body})
        return

    async def noting(message: dict[str, Any]) -> None:
        sent.append(message["type"])
        await send(message)

    await bridged(scope, receive, noting)
