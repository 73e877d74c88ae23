"""Refuse, at construction, a WSGI host that cannot run AsgiToWsgi as configured.

Theory of operation
-------------------
AsgiToWsgi runs the ASGI app on an event loop in a thread of its own, and the
host's request threads hand work to it. A host that runs Python without thread
support still lets that thread run while a request waits on it (the wait
releases the GIL), but not between requests, while the host blocks in C with
the GIL held: the app's background work, its lifespan tasks and the cleanup of
a finished request stall until the next request comes. That is a silent,
intermittent failure, so :func:`check_wsgi_host` turns it into an error when
the adapter is built, which is when the host loads the app: uWSGI with
``--need-app`` then refuses to start, with the fix in its log.

Known case: uWSGI before 2.0.27 without ``--enable-threads`` (its embedded
``uwsgi`` module says ``has_threads == 0``); uWSGI 2.0.27 and later always
enable threads.
"""

from __future__ import annotations

import sys


def check_wsgi_host() -> None:
    """Raise ``RuntimeError`` if this process's WSGI host cannot run AsgiToWsgi."""
    uwsgi = sys.modules.get("uwsgi")  # only uWSGI's embedded interpreter has it
    if uwsgi is not None and getattr(uwsgi, "has_threads", 1) == 0:
        raise RuntimeError(
            "uWSGI runs this app without Python threads, and AsgiToWsgi runs the ASGI app "
            "on an event loop in a thread of its own, which would stall between requests: "
            "start uWSGI with --enable-threads (uWSGI 2.0.27 and later always enable them)"
        )
