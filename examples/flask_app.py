"""A Flask (WSGI) app made servable by any ASGI server.

uvicorn examples.flask_app:app
hypercorn -k trio examples.flask_app:app
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
