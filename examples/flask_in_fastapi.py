"""A Flask app mounted inside a FastAPI app, through bridge.WsgiToAsgi as a Starlette mount.

Run it (from the repository root):

    $ bridge serve examples/flask_in_fastapi.py --port 8000
    $ uvicorn examples.flask_in_fastapi:app --port 8000

``/api/...`` is FastAPI; everything under ``/legacy`` is the Flask app, which
sees ``/legacy`` as its SCRIPT_NAME (``request.script_root``), so its
``url_for`` links keep the prefix.
"""

from fastapi import FastAPI
from flask import Flask, request, url_for

from bridge import WsgiToAsgi

legacy = Flask(__name__)


@legacy.get("/")
def legacy_home() -> dict[str, str]:
    return {
        "message": "Hello from Flask inside FastAPI",
        "script_root": request.script_root,
        "self": url_for("legacy_home"),
    }


app = FastAPI()


@app.get("/api/hello")
async def api_hello() -> dict[str, str]:
    return {"message": "Hello from FastAPI"}


app.mount("/legacy", WsgiToAsgi(legacy))
