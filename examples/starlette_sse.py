"""Starlette server-sent events (SSE) streamed from a WSGI server, through bridge.AsgiToWsgi.

Run it (from the repository root):

    $ bridge serve examples/starlette_sse.py --server gunicorn --threads 4 --port 8000
    $ gunicorn -k gthread --threads 4 -b 127.0.0.1:8000 examples.starlette_sse:app

Then ``curl -N http://127.0.0.1:8000/events?count=5``: each event is written
to the client as the app yields it (chunked, no Content-Length), not buffered.
"""

from collections.abc import AsyncIterator

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, StreamingResponse
from starlette.routing import Route

from bridge import AsgiToWsgi


async def events(request: Request) -> StreamingResponse:
    count = min(int(request.query_params.get("count", "10")), 1000)

    async def stream() -> AsyncIterator[str]:
        for number in range(count):
            yield f"id: {number}\nevent: tick\ndata: tick {number}\n\n"
            await anyio.sleep(0.05)
        yield "event: done\ndata: bye\n\n"

    return StreamingResponse(
        stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
    )


async def home(request: Request) -> PlainTextResponse:
    return PlainTextResponse("Hello from Starlette: GET /events for server-sent events")


starlette_app = Starlette(routes=[Route("/", home), Route("/events", events)])
app = AsgiToWsgi(starlette_app)
