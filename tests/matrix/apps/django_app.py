"""Django with single-file settings: ``wsgi``/``asgi`` natively, ``wsgi_bridged``
(WsgiToAsgi) and ``asgi_bridged`` (AsgiToWsgi) through the bridges.

The same views serve both handlers; only /stream differs, an async generator
under ASGI (Django buffers a sync iterator there) and a sync one under WSGI.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import django
from django.conf import settings

settings.configure(
    DEBUG=False,
    SECRET_KEY="matrix-tests-only",
    ALLOWED_HOSTS=["*"],
    ROOT_URLCONF=__name__,
    MIDDLEWARE=[],
    INSTALLED_APPS=[],
    DATA_UPLOAD_MAX_MEMORY_SIZE=None,
    USE_TZ=True,
)
django.setup()

from django.core.asgi import get_asgi_application  # noqa: E402
from django.core.handlers.asgi import ASGIRequest  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse  # noqa: E402
from django.urls import path, re_path  # noqa: E402

from bridge import AsgiToWsgi, WsgiToAsgi  # noqa: E402

from . import _common as c  # noqa: E402

JSON = "application/json"


def hello(request: HttpRequest) -> HttpResponse:
    return HttpResponse(c.hello("django"), content_type="text/plain")


def echo(request: HttpRequest) -> HttpResponse:
    return HttpResponse(c.echo(request.body), content_type=JSON)


async def _async_chunks() -> AsyncIterator[bytes]:
    for piece in c.chunks():
        yield piece


def stream(request: HttpRequest) -> StreamingHttpResponse:
    content = _async_chunks() if isinstance(request, ASGIRequest) else c.chunks()
    return StreamingHttpResponse(content, content_type="text/plain")


def headers(request: HttpRequest) -> HttpResponse:
    found = {}
    for name in c.ECHOED_HEADERS:
        value = request.headers.get(name)
        found[name] = [] if value is None else [value]
    return HttpResponse(c.headers_body(found), content_type=JSON)


def query(request: HttpRequest) -> HttpResponse:
    raw = request.META.get("QUERY_STRING", "")
    pairs = [(k, v) for k, values in request.GET.lists() for v in values]
    return HttpResponse(c.query_body(raw, pairs), content_type=JSON)


def path_echo(request: HttpRequest, rest: str) -> HttpResponse:
    return HttpResponse(c.path_body(rest), content_type=JSON)


def cookies(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(b"two cookies\n", content_type="text/plain")
    response.set_cookie("first", "1")
    response.set_cookie("second", "2", httponly=True)
    response["X-Repeated"] = "one, two"  # Django's headers are a dict: no repeats
    return response


urlpatterns = [
    path("hello", hello),
    path("echo", echo),
    path("stream", stream),
    path("headers", headers),
    path("query", query),
    re_path(r"^path/(?P<rest>.+)$", path_echo),
    path("cookies", cookies),
]

wsgi = get_wsgi_application()
asgi = get_asgi_application()
wsgi_bridged = WsgiToAsgi(wsgi)
asgi_bridged = AsgiToWsgi(asgi)
