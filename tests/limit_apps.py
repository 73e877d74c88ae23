"""Apps for tests/test_limits_real_servers.py: both bridges with small limits.

``w2a`` is a WSGI app behind ``WsgiToAsgi`` (served by uvicorn), ``a2w`` an ASGI
app behind ``AsgiToWsgi`` (served by wsgiref). Both answer the same paths:

* ``/echo``: the request body back (read whole);
* ``/big-header``: a response header larger than the limit;
* ``/inject``: a response header value carrying CR LF and a second header;
* anything else: ``ok``.
"""

from __future__ import annotations

from typing import Any

from bridge import AsgiToWsgi, WsgiToAsgi

LIMITS: dict[str, Any] = {
    "max_body_size": 1000,
    "max_header_count": 20,
    "max_header_bytes": 2048,
    "max_response_header_bytes": 1024,
}


def wsgi_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    path = environ["PATH_INFO"]
    plain = ("Content-Type", "text/plain")
    if path == "/echo":
        body = environ["wsgi.input"].read()
        start_response("200 OK", [plain])
        return [body]
    if path == "/big-header":
        start_response("200 OK", [plain, ("X-Big", "b" * 2000)])
    elif path == "/inject":
        start_response("200 OK", [plain, ("X-A", "a\r\nSet-Cookie: evil=1")])
    else:
        start_response("200 OK", [plain])
    return [b"ok"]


async def asgi_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    path = scope["path"]
    headers = [(b"content-type", b"text/plain")]
    body = b"ok"
    if path == "/echo":
        parts = []
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise OSError("client disconnected")
            parts.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = b"".join(parts)
    elif path == "/big-header":
        headers.append((b"x-big", b"b" * 2000))
    elif path == "/inject":
        headers.append((b"x-a", b"a\r\nSet-Cookie: evil=1"))
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


w2a = WsgiToAsgi(wsgi_app, **LIMITS)
a2w = AsgiToWsgi(asgi_app, lifespan="off", **LIMITS)
