"""A Flask (WSGI) app made servable by any ASGI server (Flask on uvicorn).

Run it (from the repository root):

    $ bridge serve examples/flask_app.py --server uvicorn --port 8000
    $ uvicorn examples.flask_app:app --port 8000

``app`` is the Flask app wrapped in bridge.WsgiToAsgi, so any ASGI server takes
it as it is (``hypercorn -k trio examples.flask_app:app`` too); ``bridge serve``
hands a WSGI server the Flask app inside instead of wrapping it twice.
"""

from flask import Flask, request

from bridge import WsgiToAsgi

flask_app = Flask(__name__)


@flask_app.get("/")
def hello() -> str:
    return "Hello from Flask"


@flask_app.post("/echo")
def echo() -> dict[str, object]:
    body = request.get_data()  # works for chunked uploads: wsgi.input_terminated is set
    return {"length": len(body), "text": body.decode("utf-8", "replace")}


app = WsgiToAsgi(flask_app)
