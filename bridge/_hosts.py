"""What AsgiToWsgi needs from the WSGI host's process: threads, and an exit hook.

Theory of operation
-------------------
*Threads.* AsgiToWsgi runs the ASGI app on an event loop in a thread of its
own, and the host's request threads hand work to it. A host that runs Python without thread
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

*Exit.* Lifespan shutdown runs when the process exits, from ``atexit``. A
``multiprocessing`` child ends with ``os._exit()``, which skips ``atexit``;
granian's workers are such children. Such a child runs
``multiprocessing.util``'s finalizers before ``os._exit()``, so
:func:`at_process_exit` registers the hook there too, in this process and
again in each multiprocessing child (which clears the finalizers it
inherited). In a mod_wsgi sub-interpreter, ``atexit`` runs while mod_wsgi
destroys the interpreter, when the loop thread no longer runs, so shutdown
would never finish; mod_wsgi's own ``subscribe_shutdown()`` runs earlier, while
threads still do, so the hook is registered there too when mod_wsgi is the
host. It runs once: the adapter's ``close()`` does nothing the second time,
and leaves alone a loop that another process started.
"""

from __future__ import annotations

import atexit
import multiprocessing.util
import sys
from collections.abc import Callable


def check_wsgi_host() -> None:
    """Raise ``RuntimeError`` if this process's WSGI host cannot run AsgiToWsgi."""
    uwsgi = sys.modules.get("uwsgi")  # only uWSGI's embedded interpreter has it
    if uwsgi is not None and getattr(uwsgi, "has_threads", 1) == 0:
        raise RuntimeError(
            "uWSGI runs this app without Python threads, and AsgiToWsgi runs the ASGI app "
            "on an event loop in a thread of its own, which would stall between requests: "
            "start uWSGI with --enable-threads (uWSGI 2.0.27 and later always enable them)"
        )


def _finalize(hook: Callable[[], None]) -> None:
    multiprocessing.util.Finalize(None, hook, exitpriority=0)


def at_process_exit(owner: object, hook: Callable[[], None]) -> None:
    """Call ``hook`` when this process exits, also as a multiprocessing child.

    A multiprocessing child forgets the finalizers it inherited, so the hook is
    registered again in every such child of this one, for as long as ``owner``
    (held weakly) lives.
    """
    atexit.register(hook)
    _finalize(hook)
    multiprocessing.util.register_after_fork(owner, lambda _: _finalize(hook))
    mod_wsgi = sys.modules.get("mod_wsgi")  # Apache's mod_wsgi puts it in every interpreter
    subscribe = getattr(mod_wsgi, "subscribe_shutdown", None)
    if subscribe is not None:
        subscribe(lambda *event, **details: hook())  # (event name, **details)
