"""Apps that the real-server tests serve in a subprocess (see test_real_servers.py).

MARKER_DIR (an environment variable) is where apps leave files that the tests
read to observe what happened inside the server: a generator's close(), a
lifespan startup or shutdown, a background task.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import BackgroundTasks, FastAPI, Request, UploadFile
from fastapi.responses import StreamingResponse
from flask import Flask, Response, request

from bridge import AsgiToWsgi, WsgiToAsgi

MARKERS = Path(os.environ.get("MARKER_DIR", "."))


def mark(name: str) -> None:
    (MARKERS / f"{name}.{os.getpid()}").write_text(str(os.getpid()))


# -- a Flask app for ASGI servers --------------------------------------------
flask_app = Flask(__name__)


@flask_app.get("/")
def flask_hello() -> str:
    return "hello from flask"


@flask_app.post("/echo")
def flask_echo() -> dict[str, object]:
    data = request.get_data()
    return {"length": len(data), "sha256": hashlib.sha256(data).hexdigest()}


@flask_app.get("/stream")
def flask_stream() -> Response:
    def chunks() -> Iterator[bytes]:
        for i in range(50):
            yield b"chunk %d\n" % i

    return Response(chunks(), mimetype="text/plain")


@flask_app.get("/endless")
def flask_endless() -> Response:
    def chunks() -> Iterator[bytes]:
        try:
            while True:
                yield b"x" * 65536
        finally:
            mark("endless-closed")

    return Response(chunks(), mimetype="application/octet-stream")


@flask_app.get("/headers")
def flask_headers() -> dict[str, object]:
    return {
        "path": request.path,
        "query": request.query_string.decode("latin-1"),
        "x_multi": request.headers.get("X-Multi"),
        "cookie": request.headers.get("Cookie"),
    }


flask_asgi = WsgiToAsgi(flask_app)


# -- a FastAPI app for WSGI servers -------------------------------------------
@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, int]]:
    mark("startup")
    yield {"lifespan_pid": os.getpid()}
    mark("shutdown")


fastapi_app = FastAPI(lifespan=lifespan)


@fastapi_app.get("/")
async def fastapi_hello(request: Request) -> dict[str, object]:
    return {"pid": os.getpid(), "lifespan_pid": request.state.lifespan_pid}


@fastapi_app.post("/echo")
async def fastapi_echo(request: Request) -> dict[str, object]:
    data = await request.body()
    return {"length": len(data), "sha256": hashlib.sha256(data).hexdigest()}


@fastapi_app.post("/upload")
async def fastapi_upload(file: UploadFile) -> dict[str, object]:
    data = await file.read()
    return {"name": file.filename, "length": len(data), "sha256": hashlib.sha256(data).hexdigest()}


@fastapi_app.get("/stream")
async def fastapi_stream() -> StreamingResponse:
    async def chunks() -> AsyncIterator[bytes]:
        for i in range(50):
            yield b"event %d\n" % i

    return StreamingResponse(chunks(), media_type="text/plain")


@fastapi_app.get("/background")
async def fastapi_background(tasks: BackgroundTasks) -> dict[str, str]:
    tasks.add_task(mark, "background")
    return {"scheduled": "yes"}


fastapi_wsgi = AsgiToWsgi(fastapi_app)
