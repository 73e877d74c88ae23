"""A FastAPI (ASGI) app made servable by any WSGI server, lifespan included.

FastAPI on gunicorn and on waitress, run from the repository root:

    $ bridge serve examples/fastapi_app.py --server gunicorn --threads 4 --port 8000
    $ bridge serve examples/fastapi_app.py --server waitress --port 8000
    $ gunicorn -k gthread --threads 4 -b 127.0.0.1:8000 examples.fastapi_app:app
    $ waitress-serve --listen=127.0.0.1:8000 examples.fastapi_app:app

``app`` is the FastAPI app wrapped in bridge.AsgiToWsgi; the lifespan startup
runs before the first request in each worker process.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request

from bridge import AsgiToWsgi


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, bool]]:
    yield {"started": True}  # becomes request.state.started in every request


fastapi_app = FastAPI(lifespan=lifespan)


@fastapi_app.get("/")
async def hello(request: Request) -> dict[str, object]:
    return {"message": "Hello from FastAPI", "lifespan_ran": request.state.started}


@fastapi_app.post("/echo")
async def echo(request: Request) -> dict[str, object]:
    body = await request.body()
    return {"length": len(body), "text": body.decode("utf-8", "replace")}


app = AsgiToWsgi(fastapi_app)
