"""The ASGI lifespan protocol, run for an ASGI app from synchronous code.

Theory of operation
-------------------
:class:`Lifespan` drives one ``lifespan`` scope of an ASGI app on an asyncio
loop that the caller owns (the bridge's loop thread). ``startup()`` and
``shutdown()`` are coroutines run on that loop; synchronous callers submit them
with ``asyncio.run_coroutine_threadsafe`` and wait with a timeout.

Outcomes of startup (checklist B6):

* ``lifespan.startup.complete`` -> :attr:`supported` is True and requests get a
  shallow copy of :attr:`state`;
* ``lifespan.startup.failed`` -> :class:`LifespanFailed` with the app's message;
* the app raises or returns before answering -> lifespan is unsupported
  (``mode="auto"``): requests are served without ``state`` and shutdown is
  never sent. With ``mode="on"`` the same is a failure.

A message that does not fit the current phase raises from ``send`` (B6.7).
What does not live here: threads, fork handling, HTTP.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

logger = logging.getLogger("bridge")

ASGIApp = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


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
        self._phase = "new"  # new -> starting -> started -> stopping -> stopped
        self._queue: asyncio.Queue[dict[str, Any]] | None = None
        self._startup: asyncio.Future[str | None] | None = None
        self._shutdown: asyncio.Future[str | None] | None = None
        #: The task running the app's lifespan scope (None before startup).
        self.task: asyncio.Task[None] | None = None

    async def _receive(self) -> dict[str, Any]:
        assert self._queue is not None
        return await self._queue.get()

    async def _send(self, message: dict[str, Any]) -> None:
        kind = message.get("type") if isinstance(message, dict) else None
        if kind in ("lifespan.startup.complete", "lifespan.startup.failed"):
            if self._phase != "starting" or self._startup is None or self._startup.done():
                raise RuntimeError(f"{kind!r} sent outside lifespan startup")
            if kind == "lifespan.startup.complete":
                self._phase = "started"
                self._startup.set_result(None)
            else:
                self._phase = "failed"
                self._startup.set_result(str(message.get("message", "")))
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
            if self._startup is not None and not self._startup.done():
                self._startup.set_exception(exc)
            elif self._shutdown is not None and not self._shutdown.done():
                self._shutdown.set_result(f"the app raised during shutdown: {exc!r}")
            elif not isinstance(exc, asyncio.CancelledError):
                logger.error("ASGI lifespan task raised", exc_info=exc)
        finally:
            if self._startup is not None and not self._startup.done():
                self._startup.set_exception(
                    RuntimeError("the app returned without answering lifespan.startup")
                )
            if self._shutdown is not None and not self._shutdown.done():
                self._shutdown.set_result(None)

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
        try:
            failure = await self._startup
        except BaseException as exc:
            self._phase = "unsupported"
            if self.mode == "on":
                raise LifespanFailed(f"the app does not support lifespan: {exc!r}") from exc
            logger.debug("ASGI lifespan unsupported by the app (%r); serving without it", exc)
            return
        if failure is not None:
            logger.error("ASGI lifespan startup failed: %s", failure)
            raise LifespanFailed(failure or "lifespan.startup.failed")
        self.supported = True

    async def shutdown(self) -> None:
        """Send ``lifespan.shutdown`` once and wait for the answer (logged if it failed)."""
        if not self.supported or self._phase != "started":
            return
        assert self._queue is not None
        self._shutdown = asyncio.get_running_loop().create_future()
        self._phase = "stopping"
        self._queue.put_nowait({"type": "lifespan.shutdown"})
        failure = await self._shutdown
        if failure:
            logger.error("ASGI lifespan shutdown failed: %s", failure)
        if self.task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self.task), timeout=1.0)
            except (asyncio.TimeoutError, Exception):
                self.task.cancel()
