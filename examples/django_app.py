"""A single-file Django (WSGI) project on hypercorn with trio, through bridge.WsgiToAsgi.

Run it (from the repository root):

    $ bridge serve examples/django_app.py:application --server hypercorn-trio --port 8000
    $ hypercorn -k trio -b 127.0.0.1:8000 examples.django_app:app

``application`` is Django's WSGI app, ``app`` the same wrapped for ASGI
servers. The settings are minimal: no database, no installed apps.
"""

import json

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path

if not settings.configured:
    settings.configure(
        DEBUG=False,
        SECRET_KEY="example-only-not-secret",
        ROOT_URLCONF=__name__,
        ALLOWED_HOSTS=["127.0.0.1", "localhost", "[::1]"],
        MIDDLEWARE=[],
        INSTALLED_APPS=[],
        DATABASES={},
    )


def home(request: HttpRequest) -> HttpResponse:
    return HttpResponse("Hello from Django", content_type="text/plain")


def echo(request: HttpRequest) -> JsonResponse:
    body = request.body
    return JsonResponse({"length": len(body), "method": request.method, "path": request.path})


def info(request: HttpRequest) -> HttpResponse:
    data = {"query": request.GET.get("q", ""), "server": request.META.get("SERVER_PROTOCOL")}
    return HttpResponse(json.dumps(data), content_type="application/json")


urlpatterns = [path("", home), path("echo", echo), path("info", info)]

from django.core.wsgi import get_wsgi_application  # noqa: E402 - after settings.configure

from bridge import WsgiToAsgi  # noqa: E402

application = get_wsgi_application()
app = WsgiToAsgi(application)
