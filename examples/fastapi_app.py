"""A FastAPI (ASGI) app made servable by any WSGI server, lifespan included.

gunicorn -k gthread examples.fastapi_app:app
waitress-serve examples.fastapi_app:app
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
