"""Pure: tell whether an object is a WSGI, ASGI 3 or ASGI 2 application.

Used by the ``bridge`` command line. Detection reads signatures only; it never
calls the app. A sync callable taking two positional parameters is WSGI
(``environ, start_response``); one parameter is an ASGI 2 factory (``scope``);
a coroutine function (or an object whose ``__call__`` is one) is ASGI 3.
"""

from __future__ import annotations

import inspect
from typing import Any

WSGI = "wsgi"
ASGI3 = "asgi3"
ASGI2 = "asgi2"


def _positional_count(func: Any) -> int | None:
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):
        return None
    count = 0
    for parameter in signature.parameters.values():
        if parameter.kind is inspect.Parameter.VAR_POSITIONAL:
            return None
        if parameter.kind in (
            inspect.Parameter.POSITIONAL_ONLY,
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
        ):
            count += 1
    return count


def interface_of(app: Any) -> str:
    """``"wsgi"``, ``"asgi3"`` or ``"asgi2"``; raise ``TypeError`` for anything else."""
    if not callable(app):
        raise TypeError(f"{app!r} is not callable, so it is neither a WSGI nor an ASGI app")
    if getattr(app, "_asgi_single_callable", False):
        return ASGI3
    if getattr(app, "_asgi_double_callable", False):
        return ASGI2
    if inspect.isclass(app):  # before __call__: a class's __call__ is its instances'
        count = _positional_count(app)
        if count == 1:
            return ASGI2
        raise TypeError(f"{app!r} is a class; pass an instance of it (or its factory's result)")
    if inspect.iscoroutinefunction(app) or inspect.iscoroutinefunction(
        getattr(app, "__call__", None)  # noqa: B004 - inspecting __call__, not callability
    ):
        return ASGI3
    count = _positional_count(app)
    if count == 2:
        return WSGI
    if count == 1:
        return ASGI2
    raise TypeError(
        f"cannot tell what {app!r} is: a WSGI app takes (environ, start_response), "
        "an ASGI app is an async callable taking (scope, receive, send); "
        "use --interface to say which"
    )
