"""The ASGI lifespan protocol, run for an ASGI app from synchronous code.

Theory of operation
-------------------
:class:`Lifespan` drives one ``lifespan`` scope of an ASGI app on an asyncio
loop that the caller owns (the bridge's loop thread). ``startup()`` and
``shutdown()`` are coroutines run on that loop; synchronous callers submit them
with ``asyncio.run_coroutine_threadsafe`` and wait with a timeout.

Outcomes of startup (checklist B6), each known as soon as the app acts:

* ``lifespan.startup.complete`` -> :attr:`supported` is True and requests get a
  shallow copy of :attr:`state`;
* ``lifespan.startup.failed`` -> :class:`LifespanFailed` with the app's message;
* the app does not really speak lifespan (B6.4) -> "unsupported": it raises or
  returns before answering, or it breaks the protocol during startup (it sends
  a message that is not ``lifespan.startup.complete``/``failed``, e.g. an
  ``http.response.start`` from an app that ignores the scope type, or a
  non-dict). A violation resolves startup the moment ``send`` is called,
  whether or not the app then swallows the ``RuntimeError`` that ``send``
  raises, so an app that would then wait for ever (on ``receive()``, or in
  another of its tasks) never holds requests. With ``mode="auto"`` one warning
  is logged (a warning, not info: the ``bridge`` logger has no handler, and
  Python shows only warnings and above by default; an app whose lifespan
  handler is broken silently loses its startup and ``state`` otherwise), and
  requests are served without ``state``; shutdown is never sent. With
  ``mode="on"`` the same is a :class:`LifespanFailed`.

Only a correct but slow startup is waited for; the caller bounds that wait
(``startup_timeout``).

After "unsupported", the app's lifespan task, if it is still running (it
swallowed the error and waits), is cancelled: nothing will ever be sent to it,
and a raw app waiting for ``http.disconnect`` would otherwise linger until
``close()``. Startup does not wait for that task to end, so an app that also
swallows ``CancelledError`` cannot hold requests either; it is cancelled again
after ``_CANCEL_GRACE`` seconds (with a warning), and once more by the caller's
``close()``, whose wait is bounded by ``shutdown_timeout``.

A message that does not fit the phase after startup has been answered raises
from ``send`` and changes nothing else (B6.7).
What does not live here: threads, fork handling, HTTP.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

logger = logging.getLogger("bridge")

ASGIApp = Callable[[dict[str, Any], Any, Any], Awaitable[None]]

#: Seconds after cancelling the lifespan task of an app without lifespan
#: support before it is cancelled again (with a warning) if it is still running.
_CANCEL_GRACE = 1.0

#: Seconds to wait for the app's lifespan task to end after it answered
#: ``startup.failed`` or ``shutdown``, for the exception it may raise then.
_ERROR_GRACE = 1.0

_STARTUP_ANSWERS = ("lifespan.startup.complete", "lifespan.startup.failed")


class LifespanFailed(RuntimeError):
    """The app answered ``lifespan.startup.failed`` (or, with ``lifespan="on"``, did not answer)."""


class Lifespan:
    def __init__(self, app: ASGIApp, *, mode: str = "auto") -> None:
        if mode not in ("auto", "on", "off"):
            raise ValueError(f"lifespan must be 'auto', 'on' or 'off', not {mode!r}")
        self.app = app
        self.mode = mode
        self.state: dict[str, Any] = {}
        self.supported = False
        # new -> starting -> started -> stopping -> stopped; or starting -> failed;
        # or starting -> unsupported.
        self._phase = "new"
        self._queue: asyncio.Queue[dict[str, Any]] | None = None
        # Resolves to ("complete", ""), ("failed", message) or ("unsupported", reason).
        self._startup: asyncio.Future[tuple[str, str]] | None = None
        self._shutdown: asyncio.Future[str | None] | None = None
        self._cause: BaseException | None = None  # what the app raised, if that was why
        #: What the app's lifespan raised with or after ``lifespan.startup.failed``,
        #: or during shutdown: the caller raises the app's own exception, as an
        #: ASGI server running the app would show it (Starlette re-raises it).
        self.error: BaseException | None = None
        #: The task running the app's lifespan scope (None before startup).
        self.task: asyncio.Task[None] | None = None

    async def _receive(self) -> dict[str, Any]:
        assert self._queue is not None
        return await self._queue.get()

    def _unsupported(self, reason: str, cause: BaseException | None = None) -> bool:
        """Resolve a pending startup as "unsupported"; False if it was already resolved."""
        if self._startup is None or self._startup.done():
            return False
        self._phase = "unsupported"
        self._cause = cause
        self._startup.set_result(("unsupported", reason))
        return True

    async def _send(self, message: dict[str, Any]) -> None:
        kind = message.get("type") if isinstance(message, dict) else None
        if self._phase == "starting" and kind not in _STARTUP_ANSWERS:
            # B6.4: the app does not speak lifespan. Decide now; the app may
            # swallow the error below and never answer.
            if isinstance(message, dict):
                what = f"sent {kind!r} on the lifespan scope during startup"
            else:
                what = f"sent a {type(message).__name__}, not a message dict, on the lifespan scope"
            self._unsupported(f"it {what}")
            raise RuntimeError(f"unexpected message on a lifespan scope: {message!r}")
        if kind in _STARTUP_ANSWERS:
            if self._phase != "starting" or self._startup is None or self._startup.done():
                raise RuntimeError(f"{kind!r} sent outside lifespan startup")
            if kind == "lifespan.startup.complete":
                self._phase = "started"
                self._startup.set_result(("complete", ""))
            else:
                self._phase = "failed"
                self._startup.set_result(("failed", str(message.get("message", ""))))
        elif kind in ("lifespan.shutdown.complete", "lifespan.shutdown.failed"):
            if self._phase != "stopping" or self._shutdown is None or self._shutdown.done():
                raise RuntimeError(f"{kind!r} sent outside lifespan shutdown")
            self._phase = "stopped"
            failed = kind == "lifespan.shutdown.failed"
            self._shutdown.set_result(str(message.get("message", "")) if failed else None)
        else:
            raise RuntimeError(f"unexpected message on a lifespan scope: {message!r}")

    async def _run(self, scope: dict[str, Any]) -> None:
        try:
            await self.app(scope, self._receive, self._send)
        except BaseException as exc:
            if self._unsupported(f"it raised {exc!r} before answering lifespan.startup", exc):
                return
            if self._phase == "unsupported":
                # Already decided (and warned about): most often the error that
                # our own send raised, or the cancellation by _stop_task.
                logger.debug("ASGI lifespan task of an app without lifespan ended: %r", exc)
            elif self._phase == "failed" or self._shutdown is not None:
                if not isinstance(exc, asyncio.CancelledError):
                    self.error = exc  # startup() or shutdown() raises it
                if self._shutdown is not None and not self._shutdown.done():
                    self._shutdown.set_result(f"the app raised during shutdown: {exc!r}")
            elif not isinstance(exc, asyncio.CancelledError):
                logger.error("ASGI lifespan task raised", exc_info=exc)
        finally:
            self._unsupported("it returned without answering lifespan.startup")
            if self._shutdown is not None and not self._shutdown.done():
                self._shutdown.set_result(None)

    def _stop_task(self) -> None:
        """Cancel the lifespan task of an app without lifespan support, without waiting."""
        task = self.task
        if task is None or task.done():
            return
        task.cancel()
        grace = _CANCEL_GRACE

        def cancel_again() -> None:
            if not task.done():
                logger.warning(
                    "the app's lifespan task ignored cancellation for %s s; cancelling it "
                    "again (close() cancels it once more, within shutdown_timeout)",
                    grace,
                )
                task.cancel()

        task.get_loop().call_later(grace, cancel_again)

    async def startup(self) -> None:
        """Run startup; raise :class:`LifespanFailed` when the app refused to start."""
        if self.mode == "off" or self._phase != "new":
            return
        loop = asyncio.get_running_loop()
        self._queue = asyncio.Queue()
        self._startup = loop.create_future()
        self._phase = "starting"
        scope = {
            "type": "lifespan",
            "asgi": {"version": "3.0", "spec_version": "2.0"},
            "state": self.state,
        }
        self._queue.put_nowait({"type": "lifespan.startup"})
        self.task = loop.create_task(self._run(scope))
        outcome, detail = await self._startup
        if outcome == "complete":
            self.supported = True
            return
        if outcome == "failed":
            logger.error("ASGI lifespan startup failed: %s", detail)
            # Starlette raises its exception right after lifespan.startup.failed:
            # wait (briefly) for it, to hand the caller the app's own exception.
            await asyncio.wait({self.task}, timeout=_ERROR_GRACE)
            raise LifespanFailed(detail or "lifespan.startup.failed") from self.error
        self._stop_task()
        if self.mode == "on":
            message = f"lifespan='on', but the app does not support lifespan: {detail}"
            logger.error("ASGI %s", message, exc_info=self._cause)
            raise LifespanFailed(message) from self._cause
        logger.warning(
            "ASGI lifespan appears unsupported by the app (%s); serving requests without "
            "lifespan: no state, no lifespan.shutdown (lifespan='off' skips the attempt)",
            detail,
        )

    async def shutdown(self) -> None:
        """Send ``lifespan.shutdown`` once and wait for the answer.

        Raises the app's own exception if its lifespan raised during shutdown
        (with or without ``lifespan.shutdown.failed``); a ``shutdown.failed``
        without one is logged.
        """
        if not self.supported or self._phase != "started":
            return
        if self.task is not None and self.task.done():
            # The app's lifespan already returned (answered startup, then ended):
            # nobody would answer lifespan.shutdown. An ASGI server counts that
            # as done too.
            self._phase = "stopped"
            return
        assert self._queue is not None
        self._shutdown = asyncio.get_running_loop().create_future()
        self._phase = "stopping"
        self._queue.put_nowait({"type": "lifespan.shutdown"})
        failure = await self._shutdown
        if self.task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self.task), timeout=_ERROR_GRACE)
            except (asyncio.TimeoutError, Exception):
                self.task.cancel()
        if self.error is not None:
            raise self.error
        if failure:
            logger.error("ASGI lifespan shutdown failed: %s", failure)
