"""AsgiToWsgi: an ASGI application served by a WSGI server.

Theory of operation
-------------------
The WSGI server calls us on one of its threads (the *thread side*). The ASGI
app runs as a task on one asyncio loop that the bridge keeps in a daemon
thread (the *loop side*); :class:`_Runtime` owns that loop and the app's
lifespan. It is created lazily on the first request and afresh in a forked
child (its ``pid`` no longer matches), never in ``__init__``: an instance
built in a ``gunicorn --preload`` master serves in every worker.

For one request, :class:`_AsgiCall` joins the sides with two channels:

``out`` (loop -> thread)
    ``("body", chunk, more)``, ``("file", path)`` (a ``pathsend``),
    ``("range", file_range, more)`` (a ``zerocopysend``), ``("done", exc)`` and
    the ``_DEMAND`` marker by which ``receive()`` asks the thread for request body.
    ``send`` of a body with ``more_body`` waits until the thread took it, or
    returns at once when the thread was already waiting in ``next()`` for it
    (``put_nowait`` says so): the app is never ahead of what the server asked
    for by more than one chunk.
``body`` (thread -> loop)
    ``(chunk, more)`` read from ``wsgi.input`` on the WSGI thread, only on
    demand and at most ``chunk_size`` bytes at a time; ``None`` means the input
    ended early or failed, which the app sees as ``http.disconnect``.

``__call__`` schedules the app and waits for its first body message (or for it
to finish or fail), calls ``start_response`` then, and returns an iterable
that pulls the remaining chunks as the server asks for them. A file (``pathsend``,
or a ``zerocopysend`` that is the whole body and a range the host honours) goes
to the host's ``wsgi.file_wrapper`` instead, so that gunicorn, uWSGI and mod_wsgi
sendfile it; any other ``zerocopysend`` range is read by the thread in blocks,
from a descriptor the bridge dup()ed in ``send`` (the app may close its own as
soon as ``send`` returns). When the server
closes that iterable early, the app is told (``http.disconnect``, ``send``
raises :class:`~bridge.ClientDisconnected`) and its task is cancelled.

Rules (checklist B2-B5): every ``send`` is validated and a violation raises
inside the app; ``start_response`` is called on the first body or an empty
finish, with ``exc_info`` when the app failed first; a failure after the body
began comes out of the iterator so the server aborts the connection; an app
that returns without responding gets a 500, never a hang.

The WSGI call lasts as long as the app (B4.8): the iterable's ``close()`` waits
on :class:`_CallEnding` (at most ``wait_time``, then cancels), so background
work has finished when the host's worker moves on. An exception the app raises
after its complete response waits there too and comes out of ``close()``, after
the host delivered the response, so the host logs it (B4.5). Each exception is
logged once: by the host where it sees it, by the bridge only where it cannot.
"""

from __future__ import annotations

import asyncio
import contextvars
import io
import logging
import os
import sys
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from asgiref.compatibility import guarantee_single_callable

from ._channel import Channel, LoopHandle
from ._errors import RAISES_EXC_INFO, ClientDisconnected, RequestRejected
from ._hosts import at_process_exit, check_wsgi_host
from ._http import check_asgi_status, decode_asgi_headers, status_line
from ._lifespan import Lifespan, LifespanFailed
from ._limits import (
    DEFAULT_MAX_BODY_SIZE,
    DEFAULT_MAX_HEADER_BYTES,
    DEFAULT_MAX_HEADER_COUNT,
    DEFAULT_MAX_RESPONSE_HEADER_BYTES,
    body_grew_too_large,
    check_declared_length,
    check_limits,
)
from ._scope import build_scope, request_body_length

logger = logging.getLogger("bridge")
_async_library: contextvars.ContextVar[str | None] | None
try:  # anyio and trio name the running async library through sniffio, when installed
    import sniffio

    _async_library = sniffio.current_async_library_cvar
except ImportError:  # pragma: no cover - sniffio comes with trio and httpx
    _async_library = None
# After the shutdown deadline: how long each remaining cleanup step may still take.
_CLEANUP_GRACE = 1.0
# How often a WSGI thread waiting for the app checks that the loop still runs.
_LOOP_CHECK_INTERVAL = 2.0

Message = dict[str, Any]
StartResponse = Callable[..., Any]

# The most bytes one receive() reads from wsgi.input. Each read is one round trip
# between the WSGI thread and the loop, which dominates a big upload's cost:
# 256 KiB moves about 4x as many bytes per second as 64 KiB (docs/performance.md)
# for 256 KiB in flight per uploading request.
DEFAULT_CHUNK_SIZE = 256 * 1024
_DEMAND = object()
_TOO_LARGE = ("too_large",)  # next_event(): the body crossed max_body_size
_EXTENSIONS: dict[str, Any] = {"http.response.pathsend": {}, "http.response.zerocopysend": {}}
_DISCONNECT: Message = {"type": "http.disconnect"}
_ERROR_BODY = b"Internal Server Error"


def _plain(
    start_response: StartResponse, status: str, text: bytes, exc_info: Any = None
) -> list[bytes]:
    headers = [
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Content-Length", str(len(text))),
    ]
    if exc_info is None:
        start_response(status, headers)
    else:
        start_response(status, headers, exc_info)
    return [text]


class _Runtime:
    """The bridge's event loop thread and the app's lifespan, for one process."""

    def __init__(self, app: Any, lifespan: str, loop: asyncio.AbstractEventLoop | None) -> None:
        self.pid = os.getpid()
        self.owns_loop = loop is None
        self.thread: threading.Thread | None = None
        if loop is None:
            loop = asyncio.new_event_loop()
        if not loop.is_running():
            # Our own loop, or one passed in but not running: run it in a daemon
            # thread. A loop passed in is never stopped or closed by the bridge.
            ready = threading.Event()
            self.thread = threading.Thread(
                target=self._run_loop, args=(loop, ready), name="bridge-asgi-loop", daemon=True
            )
            self.thread.start()
            ready.wait()
        self.loop = loop
        self.handle = LoopHandle.for_loop(loop, self._loop_thread_id)
        self.lifespan = Lifespan(app, mode=lifespan)
        self.startup_error: str | None = None
        self.startup_exception: BaseException | None = None  # what the app's lifespan raised
        self.tasks: dict[asyncio.Task[None], _AsgiCall] = {}  # in-flight requests

    _loop_thread_id = 0

    def _run_loop(self, loop: asyncio.AbstractEventLoop, ready: threading.Event) -> None:
        asyncio.set_event_loop(loop)
        self._loop_thread_id = threading.get_ident()
        loop.call_soon(ready.set)
        loop.run_forever()

    def startup(self, timeout: float, *, raised_to_caller: bool) -> None:
        """Run lifespan startup. ``raised_to_caller``: ``AsgiToWsgi.startup()`` will
        raise what the app's lifespan raised; otherwise (the first request) nobody
        would see its traceback but in this log."""
        future = asyncio.run_coroutine_threadsafe(self.lifespan.startup(), self.loop)
        try:
            future.result(timeout)
        except LifespanFailed as exc:
            self.startup_error = str(exc) or "lifespan startup failed"
            self.startup_exception = exc.__cause__
            if exc.__cause__ is not None and not raised_to_caller:
                logger.error("ASGI lifespan startup raised", exc_info=exc.__cause__)
        except FutureTimeout:
            future.cancel()
            self.startup_error = f"lifespan startup did not finish within {timeout} s"
            logger.error("ASGI %s", self.startup_error)

    async def _cancel_requests(self, timeout: float) -> None:
        """Cancel what is still running (requests, a lifespan that never answered).

        A request whose app outlives its cancellation is abandoned after
        ``timeout``: its WSGI thread is answered, so no worker waits on a loop
        that is about to stop.
        """
        tasks = [task for task in self.tasks if not task.done()]
        lifespan_task = self.lifespan.task
        if lifespan_task is not None and not lifespan_task.done():
            tasks.append(lifespan_task)
        for task in tasks:
            task.cancel()
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=timeout)
            for task in pending:
                call = self.tasks.get(task)
                if call is not None:
                    call.abandon()
            if pending:
                logger.warning("in-flight ASGI requests did not finish within %s s", timeout)

    def shutdown(self, timeout: float) -> None:
        """Lifespan shutdown, then cancel what is in flight, then stop the loop.

        The three waits share one deadline, ``timeout`` seconds from now, so
        ``close()`` stays within ``shutdown_timeout`` (plus at most
        ``_CLEANUP_GRACE`` per step once the deadline has passed: a blocked
        worker is still released and the loop still asked to stop).

        Raises what the app's lifespan raised during shutdown, once the loop
        has stopped.
        """
        if self.pid != os.getpid():
            return  # the parent's loop: not ours to touch in a forked child
        deadline = time.monotonic() + timeout
        app_error: BaseException | None = None

        def remaining() -> float:
            return max(deadline - time.monotonic(), 0.0)

        if not self.loop.is_closed() and self.loop.is_running():
            future = asyncio.run_coroutine_threadsafe(self.lifespan.shutdown(), self.loop)
            try:
                future.result(remaining())
            except FutureTimeout:
                future.cancel()
                logger.error("ASGI lifespan shutdown did not finish within %s s", timeout)
            except Exception as exc:
                app_error = exc  # raised below, after the cleanup
        if self.loop.is_running():
            # In-flight requests: cancel their tasks, whose `finally` tells the
            # waiting WSGI threads, so no worker waits on a loop that stopped.
            done = asyncio.run_coroutine_threadsafe(self._cancel_requests(remaining()), self.loop)
            try:
                # The loop itself may be blocked: stay bounded.
                done.result(remaining() + _CLEANUP_GRACE)
            except (FutureTimeout, Exception):
                logger.warning("in-flight ASGI requests did not finish within %s s", timeout)
        if self.owns_loop and self.thread is not None:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(max(remaining(), _CLEANUP_GRACE))
            if not self.thread.is_alive():
                self.loop.close()
        if app_error is not None:
            try:
                raise app_error
            finally:
                del app_error  # no cycle through this frame


class _AsgiCall:
    """One request: the ASGI ``receive``/``send`` on the loop, the iterable on the thread."""

    def __init__(
        self,
        adapter: AsgiToWsgi,
        runtime: _Runtime,
        scope: dict[str, Any],
        environ: dict[str, Any],
        length: int | None,
    ) -> None:
        self.adapter = adapter
        self.runtime = runtime
        self.scope = scope
        self.environ = environ
        self.input = _InputReader(environ, length, adapter) if length != 0 else None
        self.out: Channel[Any] = Channel(runtime.handle, 1)
        # Only a request that has a body needs the thread -> loop body channel.
        self.body: Channel[Any] | None = Channel(runtime.handle, 1) if length != 0 else None
        # Loop-side state.
        self.started = False
        self.status = 200
        self.headers: list[tuple[str, str]] = []
        self.finished = False  # the app sent its last body (or a pathsend)
        self.body_started = False
        self.body_done = False  # the last http.request (or a disconnect) was returned
        self.server_closed = False
        self.response_done: asyncio.Future[None] | None = None
        self.task: asyncio.Task[None] | None = None
        self.ending = _CallEnding(runtime.loop)

    # -- loop side -------------------------------------------------------------
    def start(self) -> None:
        loop = self.runtime.loop
        task: asyncio.Task[None]
        if sys.version_info >= (3, 12) and loop.get_task_factory() is None:
            # The app's first step runs now, inside this callback, instead of
            # one loop iteration later: a hello world never waits for the loop
            # to come round again. (eager_start is new in Python 3.12; a loop
            # with a task factory of its own keeps it.)
            task = asyncio.Task(self._run(), loop=loop, eager_start=True)
        else:
            task = loop.create_task(self._run())
        self.task = task  # before its first step, on Python 3.11 and with a factory
        if not task.done():
            self.runtime.tasks[task] = self  # _run's finally takes it out

    async def _run(self) -> None:
        # Set here, not after the Task was made: an eagerly started app may send
        # its whole response, and the WSGI thread look for the task to cancel
        # (wait_time), before asyncio.Task() has returned to start().
        self.task = asyncio.current_task()
        if _async_library is not None and _async_library.get(None) is not None:
            # The task runs in a copy of the WSGI thread's context. Under a
            # WsgiToAsgi on trio that copy says "trio" to sniffio, and anyio
            # would drive this asyncio task as trio (thread pools, sleeps).
            _async_library.set(None)
        try:
            await self.adapter.app(self.scope, self.receive, self.send)
        except BaseException as exc:
            outcome: BaseException | None = exc
        else:
            outcome = None
        try:
            # Once the last body went out, the thread side reads no more events.
            if not self.finished and not self.out.closed:
                self.out.put_nowait(("done", outcome))
            elif self.finished and isinstance(outcome, Exception):
                self.ending.raised_late(outcome)
        except Exception:
            pass
        finally:
            self._mark_response_done()
            if self.task is not None:
                # Not a done callback: that would cost every request one more
                # loop iteration.
                self.runtime.tasks.pop(self.task, None)
            self.ending.app_returned()
            del outcome

    def _mark_response_done(self) -> None:
        if self.response_done is not None and not self.response_done.done():
            self.response_done.set_result(None)

    async def receive(self) -> Message:
        if self.body_done:
            if not (self.finished or self.server_closed):
                # B2.5: after the body, wait until the response is over.
                if self.response_done is None:
                    self.response_done = asyncio.get_running_loop().create_future()
                await self.response_done
            return _DISCONNECT
        if self.finished or self.server_closed:
            # The response is over: nobody on the thread side serves body demands.
            self.body_done = True
            return _DISCONNECT
        body = self.body
        if body is None:
            self.body_done = True
            return {"type": "http.request", "body": b"", "more_body": False}
        try:
            self.out.put_nowait(_DEMAND)
            item = await body.aget()
        except ClientDisconnected:
            self.body_done = True
            return _DISCONNECT
        if item is None:  # the input ended early or a read failed
            self.body_done = True
            return _DISCONNECT
        chunk, more = item
        if not more:
            self.body_done = True
        return {"type": "http.request", "body": chunk, "more_body": more}

    async def send(self, message: Message) -> None:
        if self.server_closed:
            raise ClientDisconnected("the WSGI server closed the response")
        if not isinstance(message, dict):
            raise TypeError(f"ASGI messages are dicts, got {type(message).__name__}")
        kind = message.get("type")
        if kind == "http.response.body":
            if not self.started:
                raise RuntimeError("http.response.body sent before http.response.start")
            if self.finished:
                return  # B3.7: ignored after the response ended
            chunk = message.get("body", b"")
            if type(chunk) is not bytes:
                if not isinstance(chunk, (bytearray, memoryview)):
                    raise TypeError(
                        f"http.response.body 'body' must be bytes, got {type(chunk).__name__}"
                    )
                chunk = bytes(chunk)
            more = bool(message.get("more_body", False))
            self.body_started = True
            if not more:
                self.finished = True
                self._mark_response_done()
            handed_over = self.out.put_nowait(("body", chunk, more))
            if more and not handed_over:
                # B3.6: return once the server took the chunk. A server already
                # waiting in next() takes it at once, so the app may then make
                # its next chunk while the thread wakes: one loop round trip per
                # two chunks, and still never more than one chunk ahead.
                await self.out.ajoin()
        elif kind == "http.response.start":
            if self.started:
                raise RuntimeError("http.response.start sent twice")
            status = check_asgi_status(message.get("status"))
            self.headers = decode_asgi_headers(
                message.get("headers"), self.adapter.max_response_header_bytes
            )
            self.status = status
            self.started = True
        elif kind == "http.response.pathsend":
            if not self.started:
                raise RuntimeError("http.response.pathsend sent before http.response.start")
            if self.finished or self.body_started:
                raise RuntimeError("http.response.pathsend cannot follow http.response.body")
            path = message.get("path")
            if not isinstance(path, str):
                raise TypeError("http.response.pathsend 'path' must be a str")
            self.finished = True
            self._mark_response_done()
            self.out.put_nowait(("file", path))
        elif kind == "http.response.zerocopysend":
            if not self.started:
                raise RuntimeError("http.response.zerocopysend sent before http.response.start")
            if self.finished:
                return  # ignored after the response ended, as a body is (B3.7)
            file_range = _FileRange.take(message)
            more = bool(message.get("more_body", False))
            self.body_started = True
            if not more:
                self.finished = True
                self._mark_response_done()
            try:
                handed_over = self.out.put_nowait(("range", file_range, more))
            except BaseException:
                file_range.close()
                raise
            if more and not handed_over:
                await self.out.ajoin()  # as for a body: never more than one range ahead
        elif kind == "http.response.trailers":
            return  # not advertised; accepted and dropped so nothing hangs
        else:
            raise ValueError(f"unsupported ASGI message type {kind!r} on an http scope")

    def _abort(self, grace: float | None) -> None:
        """On the loop: the server closed the response before it was finished."""
        self._end(ClientDisconnected("the WSGI server closed the response"))
        self._close_unread_ranges()
        task = self.task
        if task is not None and not task.done():
            # call_soon, not cancel(): the app first gets one step to see its
            # pending send raise ClientDisconnected (or receive a disconnect).
            if grace:
                self.runtime.loop.call_later(grace, task.cancel)
            else:
                self.runtime.loop.call_soon(task.cancel)

    def abandon(self) -> None:
        """On the loop, in close(): the app outlived its cancellation; free the WSGI thread."""
        if not self.out.closed:
            error = RuntimeError("AsgiToWsgi was closed while the ASGI app was still running")
            self.out.put_nowait(("done", error))  # a 500, or the end of a cut stream
        self._end(ClientDisconnected("AsgiToWsgi was closed"))
        self._stop_waiting()  # what the abandoned app raises later is logged
        self.ending.app_returned()  # a close() waiting after the response returns

    def _close_unread_ranges(self) -> None:
        """The thread will read no more events: close the descriptors of ranges it never took."""
        while True:
            try:
                event = self.out.get_nowait()
            except Exception:  # closed and empty
                return
            if event is None:
                return
            if type(event) is tuple and event[0] == "range":
                event[1].close()

    def _end(self, gone: ClientDisconnected) -> None:
        """The response is over for the app: its later sends raise, both channels close."""
        self.server_closed = True
        self.out.close(gone)
        if self.body is not None:
            self.body.close(gone)
        self._mark_response_done()

    # -- thread side -------------------------------------------------------
    def next_event(self) -> Any:
        """The next response event, serving body demands in between.

        The wait wakes every ``_LOOP_CHECK_INTERVAL`` seconds to check that the
        loop still runs: a request whose task never got a step (it raced
        ``close()`` into the loop's last iteration) would otherwise wait forever.
        """
        out = self.out
        loop = self.runtime.loop
        while True:
            try:
                event = out.take(_LOOP_CHECK_INTERVAL)
            except TimeoutError:
                if loop.is_running():
                    continue
                return ("done", RuntimeError("the bridge's event loop stopped mid-request"))
            if event is _DEMAND:
                if self._feed_body():
                    return _TOO_LARGE
                continue
            return event

    def _feed_body(self) -> bool:
        """Read one chunk for ``receive()``; True when it crossed ``max_body_size``."""
        body, reader = self.body, self.input
        assert body is not None and reader is not None  # demands come only with a body
        chunk = reader.next_chunk()
        if chunk is _TOO_LARGE:
            body.put_nowait(None)  # the app sees http.disconnect
            return True
        body.put_nowait(chunk)
        return False

    def respond(self, start_response: StartResponse) -> Iterable[bytes]:
        event = self.next_event()
        kind = event[0]
        if kind == "too_large":
            # Nothing was sent yet: the client gets 413; the app, which was
            # handed http.disconnect, is told the response is over.
            self.close_from_server(False)
            limit = self.adapter.max_body_size
            assert limit is not None  # "too_large" comes only from a limited body
            refusal = body_grew_too_large(limit)
            return _plain(start_response, status_line(413), f"{refusal}\n".encode())
        if kind == "body":
            _, chunk, more = event
            start_response(status_line(self.status), self.headers)
            if not more and self.ending.returned_cleanly():
                # The app has returned, cleanly: nothing left for close() to wait for.
                return [chunk] if chunk else []
            return _ResponseIterator(self, chunk, finished=not more)
        if kind == "file":
            return self._file_response(event[1], start_response)
        if kind == "range":
            return self._range_response(event[1], event[2], start_response)
        outcome = event[1]
        if isinstance(outcome, asyncio.CancelledError):  # by close(): not a whole response
            logger.warning("ASGI app was cancelled before sending a response body")
            return _plain(start_response, "503 Service Unavailable", b"Service Unavailable")
        if outcome is not None:
            if self.adapter.raise_exceptions:
                try:
                    raise outcome  # to the host, its debugger or error monitor
                finally:
                    del outcome, event  # no cycle through this frame
            return self._report_to_host(start_response, outcome)
        if self.started:
            logger.error("ASGI app returned after http.response.start without a body")
            start_response(status_line(self.status), self.headers)
            return []
        logger.error("ASGI app returned without sending a response")
        return _plain(start_response, "500 Internal Server Error", _ERROR_BODY)

    def _when_file_closed(self) -> Callable[[], None]:
        """What closing a file handed to the host does: end the WSGI call."""
        request_thread = threading.get_ident()

        def file_closed() -> None:
            # Closing the file ends the WSGI call as closing any response does:
            # it waits for the app and raises what the app raised after it
            # (B4.8). Only on the request's own thread: a host that closes the
            # file elsewhere (an I/O thread, a finaliser) must not be blocked.
            if threading.get_ident() == request_thread:
                self.close_from_server(True)
            else:
                self._stop_waiting()

        return file_closed

    def _file_response(self, path: str, start_response: StartResponse) -> Iterable[bytes]:
        try:
            file = _ResponseFile(path, self._when_file_closed())
        except OSError as exc:
            if self.adapter.raise_exceptions:
                raise
            return self._report_to_host(start_response, exc)
        start_response(status_line(self.status), self.headers)
        # waitress closes a file wrapper on its I/O thread, once sent, and never
        # sendfiles it: blocks keep the call's end on the request's thread.
        wrapper = None if self._on_waitress() else self.environ.get("wsgi.file_wrapper")
        if wrapper is not None:
            return wrapper(file, self.adapter.chunk_size)  # type: ignore[no-any-return]
        return _FileBlocks(file, self.adapter.chunk_size)

    def _range_response(
        self, file_range: _FileRange, more: bool, start_response: StartResponse
    ) -> Iterable[bytes]:
        """A response whose body begins with a ``zerocopysend`` range."""
        start_response(status_line(self.status), self.headers)
        wrapper = None if self._on_waitress() else self.environ.get("wsgi.file_wrapper")
        if not more and wrapper is not None and self._host_sends_range(file_range):
            fd = file_range.reopen()
            if fd is not None:
                file = _RangeFile(fd, file_range.count, self._when_file_closed())
                return wrapper(file, self.adapter.chunk_size)  # type: ignore[no-any-return]
        return _ResponseIterator(self, b"", finished=not more, file_range=file_range)

    def _host_sends_range(self, file_range: _FileRange) -> bool:
        """Whether the host's ``wsgi.file_wrapper`` sends exactly ``file_range`` of a
        file positioned at its start (each host's own rule, from its source).

        gunicorn (and mod_wsgi, by its documentation) sendfile from the file's
        position: ``Content-Length`` bytes, or to the end of the file without
        one; so does ``WsgiToAsgi`` (its environ has ``RAISES_EXC_INFO``), which
        hands the file on as a zerocopysend where its server offers one. uWSGI
        sendfiles the whole file from byte 0, whatever the position or
        ``Content-Length``. The other hosts' wrappers read the file in Python,
        as the bridge's own blocks do, so nothing is gained there.
        """
        environ = self.environ
        if "uwsgi.version" in environ:
            return file_range.start == 0 and file_range.count == file_range.size
        if (
            "gunicorn.socket" in environ
            or "mod_wsgi.version" in environ
            or RAISES_EXC_INFO in environ
        ):
            length = self._content_length()
            if length is None:
                return file_range.start + file_range.count == file_range.size
            return length == file_range.count
        return False

    def _content_length(self) -> int | None:
        for name, value in self.headers:
            if name.lower() == "content-length":
                try:
                    return int(value)
                except ValueError:
                    return None
        return None

    def _report_to_host(self, start_response: StartResponse, error: BaseException) -> list[bytes]:
        """A 500 sent with ``exc_info`` (B4.5): hosts that look at it recover ``error``.

        The bridge logs ``error`` only where nobody else will: not when the
        host's ``start_response`` raised it at once (werkzeug's and httpx's
        test clients), nor when the host says in the environ that it raises it
        after the 500 (WsgiToAsgi, in a round trip), so it is logged once.
        uWSGI (2.0.31) gets no ``exc_info``: its ``start_response`` makes one a
        ``SystemError`` and the 500 loses its body (unbit/uwsgi#2278); it
        ignores ``exc_info`` anyway, so nothing is lost.
        """
        exc_info: Any = None
        if "uwsgi.version" not in self.environ:
            exc_info = (type(error), error, error.__traceback__)
        try:
            response = _plain(start_response, "500 Internal Server Error", _ERROR_BODY, exc_info)
        except BaseException as raised:
            if raised is not error:
                logger.error("ASGI app raised before sending a response body", exc_info=error)
            raise
        finally:
            del exc_info
        if not self.environ.get(RAISES_EXC_INFO):
            logger.error("ASGI app raised before sending a response body", exc_info=error)
        return response

    def close_from_server(self, finished: bool) -> None:
        """The server closed the iterable: after the whole response, wait for the app.

        ``finished``: the app's last body was handed over. Then the WSGI call
        lasts until the app returns (B4.8), or ``wait_time`` seconds, past which
        the app is cancelled; an exception the app raised after its response
        comes out of here, once the host has delivered the response.
        """
        runtime = self.runtime
        wait_time = self.adapter.wait_time
        if not finished:
            runtime.loop.call_soon_threadsafe(self._abort, wait_time)
            return
        ending = self.ending
        if not ending.wait(wait_time):
            error = ending.give_up()  # it may have come just now
            if error is None:
                logger.warning(
                    "ASGI app still running %s s after its response ended: cancelled", wait_time
                )
                task = self.task
                if task is not None:
                    runtime.loop.call_soon_threadsafe(task.cancel)
                return
        else:
            error = ending.take_late_error()
        if error is None:
            return
        if self._host_drops_the_end_if_close_raises():
            logger.error(
                "ASGI app raised after its response (logged here, not raised from "
                "close(): waitress would not send the end of a chunked response)",
                exc_info=error,
            )
            return
        try:
            raise error  # after the complete response: the host logs it
        finally:
            del error  # no cycle through this frame

    def _stop_waiting(self) -> None:
        """The response ended where the call cannot wait: the app runs on, unwaited.

        An exception it raised already, or raises later, is logged (by the loop).
        """
        error = self.ending.give_up()
        if error is not None:
            logger.error("ASGI app raised after its response", exc_info=error)

    def _on_waitress(self) -> bool:
        environ = self.environ
        return (
            "waitress.client_disconnected" in environ
            or environ.get("SERVER_SOFTWARE") == "waitress"
        )

    def _host_drops_the_end_if_close_raises(self) -> bool:
        """waitress writes a chunked response's last chunk after close(), and not at all
        when close() raises: the client would never see the response end
        (docs/compatibility.md). Every other tested host finishes the response first."""
        if not self._on_waitress():
            return False
        return not any(name.lower() == "content-length" for name, _ in self.headers)


class _InputReader:
    """``wsgi.input`` read for ``receive()``, one chunk per demand, on the WSGI thread.

    :meth:`next_chunk` gives ``(data, more)`` for the next ``http.request``,
    ``None`` when the input failed or ended short of its CONTENT_LENGTH (the app
    sees ``http.disconnect``, B2.4), or ``_TOO_LARGE`` when a body read to EOF
    crossed ``max_body_size``. Reads are at most ``chunk_size`` bytes and never
    past CONTENT_LENGTH, which acts as EOF.
    """

    __slots__ = ("_chunk_size", "_environ", "_limit", "_received", "_remaining")

    def __init__(self, environ: dict[str, Any], length: int | None, adapter: AsgiToWsgi) -> None:
        self._environ = environ
        self._remaining = length  # body bytes still to read; None = to EOF
        self._received = 0  # body bytes read so far, counted only under max_body_size
        self._chunk_size = adapter.chunk_size
        self._limit = adapter.max_body_size

    def next_chunk(self) -> tuple[bytes, bool] | tuple[str] | None:
        remaining = self._remaining
        size = self._chunk_size if remaining is None else min(remaining, self._chunk_size)
        limit = self._limit
        if limit is not None and remaining is None:
            # Read to EOF under max_body_size: past it, the app sees http.disconnect.
            data = self._read(min(size, limit - self._received + 1))
            if data is None:
                return None
            self._received += len(data)
            if self._received > limit:
                logger.warning("request body larger than max_body_size=%d: refused", limit)
                return _TOO_LARGE
            return (data, bool(data))
        data = self._read(size) if size else b""
        if data is None:
            return None
        if remaining is None:
            return (data, bool(data))
        if not data and remaining > 0:  # B2.4: a short input is a disconnect
            return None
        remaining -= len(data)
        self._remaining = remaining
        return (data, remaining > 0)

    def _read(self, size: int) -> bytes | None:
        """``wsgi.input.read(size)`` as bytes, or None when the read failed."""
        try:
            data = self._environ["wsgi.input"].read(size)
        except Exception as exc:
            logger.warning("reading wsgi.input failed: %r", exc)
            return None
        return data if type(data) is bytes else bytes(data)


class _CallEnding:
    """When an AsgiToWsgi call may end, and what it hands the host then (B4.5, B4.8).

    The loop side calls :meth:`app_returned` when the app's coroutine returned,
    after keeping an exception the app raised after its complete response
    (Starlette's error middleware re-raising after its 500, a failing
    background task) with :meth:`raised_late`. The thread side, in the
    iterable's ``close()``, waits for that and takes the exception to raise to
    the host. Exactly one side reports it: ``close()``, or the loop, by
    logging, once ``close()`` gave up waiting (``wait_time``).

    Most apps have returned by the time the WSGI thread looks, so the event a
    waiting thread needs is made only when it must wait: the loop side writes
    ``returned`` before it reads ``_waiter``, the thread side writes
    ``_waiter`` before it reads ``returned``, so (each step atomic under the
    GIL) one of them always sees the other.
    """

    __slots__ = ("_gave_up", "_late", "_loop", "_waiter", "returned")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self.returned = False
        self._waiter: threading.Event | None = None
        self._late: list[BaseException] = []
        self._gave_up = False

    # -- loop side
    def raised_late(self, error: Exception) -> None:
        self._late.append(error)
        if self._gave_up and self.take_late_error() is not None:
            logger.error(
                "ASGI app raised after its response, once the WSGI call had ended", exc_info=error
            )

    def app_returned(self) -> None:
        self.returned = True
        waiter = self._waiter
        if waiter is not None:
            waiter.set()

    # -- thread side
    def returned_cleanly(self) -> bool:
        """The app has returned, with nothing left to raise: close() need not wait."""
        return self.returned and not self._late

    def take_late_error(self) -> BaseException | None:
        try:
            return self._late.pop()  # atomic: exactly one side gets it
        except IndexError:
            return None

    def give_up(self) -> BaseException | None:
        """close() stops waiting; an exception that came meanwhile is still its to raise."""
        self._gave_up = True
        return self.take_late_error()

    def wait(self, timeout: float | None) -> bool:
        """Wait until the app returned; False after ``timeout`` seconds.

        Wakes every ``_LOOP_CHECK_INTERVAL`` to check that the loop still runs:
        a stopped loop will never finish the app, and the worker must not wait
        for ever on it.
        """
        if self.returned:
            return True
        waiter = self._waiter = threading.Event()
        if self.returned:
            return True
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            step = _LOOP_CHECK_INTERVAL
            if deadline is not None:
                step = min(step, max(deadline - time.monotonic(), 0.0))
            if waiter.wait(step):
                return True
            if deadline is not None and time.monotonic() >= deadline:
                return False
            if not self._loop.is_running():
                return True  # nothing left that could finish it


class _ResponseFile(io.FileIO):
    """A ``pathsend`` file whose ``close()`` (the host's, through its file
    wrapper, or :class:`_FileBlocks`') also ends the WSGI call: ``on_close``
    runs once, after the file is closed. A real file, so a host can sendfile it."""

    def __init__(self, path: str | int, on_close: Callable[[], None]) -> None:
        super().__init__(path, "rb")
        self._on_close: Callable[[], None] | None = on_close

    def close(self) -> None:
        super().close()
        on_close, self._on_close = self._on_close, None
        if on_close is not None:
            on_close()


class _RangeFile(_ResponseFile):
    """A ``zerocopysend`` range for the host's ``wsgi.file_wrapper``: a real file
    positioned at the range's start (the host sendfiles from there), whose reads
    stop after ``count`` bytes for a host that reads it instead."""

    def __init__(self, fd: int, count: int, on_close: Callable[[], None]) -> None:
        super().__init__(fd, on_close)
        self._left = count

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0 or size > self._left:
            size = self._left
        data = super().read(size) or b""
        self._left -= len(data)
        return data


class _FileRange:
    """The bytes one ``zerocopysend`` sends, on a descriptor the bridge owns.

    :meth:`take` checks the message and dup()s the app's descriptor in ``send``:
    the spec makes closing the file the app's job, and the app may do it as soon
    as ``send`` returns. Reads use ``os.pread``, which never moves the position
    the dup shares with the app's file. Without an ``offset`` the range starts
    at the file's position, which then moves past the range, as ``os.sendfile``
    without an offset moves it; without a ``count`` it runs to the end of the
    file as it is at ``send``. The descriptor is closed once the range was read,
    with the response, or (a range the thread never took) when this is freed.
    """

    __slots__ = ("_read", "count", "fd", "size", "start")

    def __init__(self, fd: int, start: int, count: int, size: int) -> None:
        self.fd = fd
        self.start = start
        self.count = count
        self.size = size  # the file's size at send
        self._read = 0

    @classmethod
    def take(cls, message: Message) -> _FileRange:
        file = message.get("file")
        if isinstance(file, int) and not isinstance(file, bool):
            fd = file
        else:
            try:
                fd = file.fileno()  # type: ignore[union-attr]
            except (AttributeError, OSError, ValueError) as exc:
                raise TypeError(
                    "http.response.zerocopysend 'file' must be an open file with a "
                    f"descriptor (fileno()), got {type(file).__name__}"
                ) from exc
        offset, count = message.get("offset"), message.get("count")
        for name, value in (("offset", offset), ("count", count)):
            if value is not None and (
                not isinstance(value, int) or isinstance(value, bool) or value < 0
            ):
                raise ValueError(
                    f"http.response.zerocopysend '{name}' must be an int >= 0, got {value!r}"
                )
        size = os.fstat(fd).st_size
        if offset is None:
            try:
                start = os.lseek(fd, 0, os.SEEK_CUR)
            except OSError as exc:
                raise ValueError(
                    "http.response.zerocopysend 'file' must be a file with a position "
                    f"(seekable): {exc}"
                ) from exc
        else:
            start = offset
        if count is None:
            count = max(size - start, 0)
        own = os.dup(fd)
        if offset is None:
            os.lseek(fd, start + count, os.SEEK_SET)
        return cls(own, start, count, size)

    def read_block(self, size: int) -> bytes:
        """The next at most ``size`` bytes; ``b""`` once the range was read (then closed).

        Raises ``RuntimeError`` when the file ends before ``count`` bytes: the
        host then cuts the response, which never looks complete.
        """
        left = self.count - self._read
        if left <= 0:
            self.close()
            return b""
        try:
            block = os.pread(self.fd, min(size, left), self.start + self._read)
        except BaseException:
            self.close()
            raise
        if not block:
            self.close()
            raise RuntimeError(
                f"the http.response.zerocopysend file ended {left} bytes short of its count"
            )
        self._read += len(block)
        return block

    def reopen(self) -> int | None:
        """A descriptor of the same file with a position of its own, at ``start``, for
        a host that sendfiles from the position; None where there is none (no
        /proc). This range's own descriptor is closed once it is open."""
        try:
            fd = os.open(f"/proc/self/fd/{self.fd}", os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return None
        try:
            mine, theirs = os.fstat(self.fd), os.fstat(fd)
            if (mine.st_dev, mine.st_ino) != (theirs.st_dev, theirs.st_ino):
                os.close(fd)
                return None
            os.lseek(fd, self.start, os.SEEK_SET)
        except OSError:
            os.close(fd)
            return None
        self.close()
        return fd

    def close(self) -> None:
        fd, self.fd = self.fd, -1
        if fd >= 0:
            os.close(fd)

    def __del__(self) -> None:
        self.close()


class _FileBlocks:
    """A ``pathsend`` file in blocks, for a host without ``wsgi.file_wrapper``."""

    def __init__(self, file: _ResponseFile, size: int) -> None:
        self._file = file
        self._size = size

    def __iter__(self) -> Iterator[bytes]:
        read, size = self._file.read, self._size
        while block := read(size):
            yield block

    def close(self) -> None:
        self._file.close()


class _ResponseIterator:
    """The iterable handed to the WSGI server for a streaming response."""

    __slots__ = ("_body_too_large", "_call", "_closed", "_finished", "_first", "_range")

    def __init__(
        self,
        call: _AsgiCall,
        first: bytes,
        *,
        finished: bool,
        file_range: _FileRange | None = None,
    ) -> None:
        self._call = call
        self._first: bytes | None = first
        self._finished = finished
        self._closed = False
        self._body_too_large = False
        self._range = file_range  # a zerocopysend range being read, block by block

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        first = self._first
        if first is not None:
            self._first = None
            if first:
                return first
        while True:
            file_range = self._range
            if file_range is not None:
                block = file_range.read_block(self._call.adapter.chunk_size)
                if block:
                    return block
                self._range = None  # read to its end, and closed
            if self._finished:
                break
            event = self._call.next_event()
            kind = event[0]
            if kind == "body":
                chunk: bytes = event[1]
                if not event[2]:
                    self._finished = True
                if chunk:
                    return chunk
            elif kind == "too_large":
                self._body_too_large = True  # the response began: the app got http.disconnect
            elif kind == "done":
                self._finished = True
                outcome = event[1]
                if outcome is not None:
                    if isinstance(outcome, asyncio.CancelledError):  # by close(): cut, too
                        outcome = RuntimeError("the ASGI app was cancelled mid-response")
                    try:
                        raise outcome  # after the body began: the server aborts the connection
                    finally:
                        del outcome, event  # no cycle through this frame
                if self._body_too_large:
                    # The app was handed http.disconnect for a body over
                    # max_body_size while the client is still there: cut the
                    # stream so the truncated response never looks complete.
                    raise RuntimeError(
                        "the request body grew past max_body_size after the response began"
                    )
                logger.error("ASGI app returned before finishing its response body")  # B4.6
            elif kind == "range":
                self._range = event[1]
                if not event[2]:
                    self._finished = True
            else:  # pathsend after a body: refused by send(); unreachable
                raise RuntimeError(f"unexpected response event {kind!r}")
        raise StopIteration

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._range is not None:
            self._range.close()
            self._range = None
        self._call.close_from_server(self._finished)


class AsgiToWsgi:
    """Serve an ASGI application from a WSGI server.

    `AsgiToWsgi(asgi_app)` is a WSGI application: give it to gunicorn,
    waitress, mod_wsgi, uWSGI, Werkzeug or wsgiref. The ASGI app runs as tasks
    on one asyncio event loop in a daemon thread that the bridge starts on the
    first request, never at construction, and again in a forked child, so an
    instance built before `fork()` (`gunicorn --preload`) works in every
    worker. The ASGI lifespan protocol runs once per process, before the first
    request is served.

    `bridge.ASGIMiddleware` is the same class under a2wsgi's name.

    Example:
        ```python
        from fastapi import FastAPI
        from bridge import AsgiToWsgi

        fastapi_app = FastAPI()
        app = AsgiToWsgi(fastapi_app)   # gunicorn -k gthread app:app
        ```

    Args:
        asgi_app: an ASGI 3 app, or an ASGI 2 (double-callable) app.
        lifespan: `"auto"` (default) runs the lifespan protocol if the app
            supports it; `"on"` makes an app that does not support it an error
            (every request gets 500); `"off"` never sends lifespan events.
        loop: an asyncio loop to run the app on instead of the bridge's own
            (a2wsgi's `loop=`). The bridge never stops or closes a loop passed
            in; if it is not running, the bridge runs it in a daemon thread.
        wait_time: after a response finished normally, how long the WSGI
            call (through the iterable's `close()`) waits for the app to
            return before its task is cancelled (a2wsgi's `wait_time`).
            `None` (default): until the app returns, as an ASGI server keeps a
            request's task, so background work (Starlette `BackgroundTasks`,
            FastAPI dependencies with `yield`) has finished when the call
            ends, and an exception it raises reaches the host from `close()`.
            When the server closes a response early, the app is cancelled
            after this many seconds (`None`: at once).
        raise_exceptions: when the app raises before its response began,
            raise the exception from the WSGI call instead of answering
            `500` through `start_response(..., exc_info)` (default `False`).
            For debuggers and error monitors that wrap the WSGI app and only
            see raised exceptions (Werkzeug's `DebuggedApplication`).
        chunk_size: the most bytes read from `wsgi.input` for one `receive()`,
            and the block size of a `pathsend` file without a
            `wsgi.file_wrapper` and of a `zerocopysend` range the bridge reads
            itself (default 256 KiB).
        max_body_size: the largest request body in bytes, or `None` (default:
            no limit; the body is streamed, never held). A larger CONTENT_LENGTH
            is answered with 413 without calling the app; a body read to EOF
            that grows past it ends with `http.disconnect` for the app and 413
            for the client (if the response has not started).
        max_header_count: more request headers than this get 431 (default 100).
        max_header_bytes: request header names and values adding up to more
            bytes than this get 431, a path plus query string longer than this
            414 (default 64 KiB).
        max_response_header_bytes: response header names and values adding up
            to more than this make the app's `send` raise `ValueError`; they are
            never forwarded and the client gets 500 (default 64 KiB).
        startup_timeout: seconds the first request waits for lifespan startup;
            past it, requests get 500.
        shutdown_timeout: seconds [`close()`][bridge.AsgiToWsgi.close] waits
            for lifespan shutdown and for the loop thread to end.

    Raises:
        ValueError: `lifespan` is not one of the three values, or `chunk_size`
            is less than 1.
        RuntimeError: the WSGI host cannot run the loop thread (uWSGI before
            2.0.27 without `--enable-threads`).
    """

    def __init__(
        self,
        asgi_app: Any,
        *,
        lifespan: str = "auto",
        loop: asyncio.AbstractEventLoop | None = None,
        wait_time: float | None = None,
        raise_exceptions: bool = False,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        startup_timeout: float = 60.0,
        shutdown_timeout: float = 30.0,
        max_body_size: int | None = DEFAULT_MAX_BODY_SIZE,
        max_header_count: int = DEFAULT_MAX_HEADER_COUNT,
        max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES,
        max_response_header_bytes: int = DEFAULT_MAX_RESPONSE_HEADER_BYTES,
    ) -> None:
        if lifespan not in ("auto", "on", "off"):
            raise ValueError(f"lifespan must be 'auto', 'on' or 'off', not {lifespan!r}")
        if chunk_size < 1:
            raise ValueError("chunk_size must be at least 1")
        check_wsgi_host()  # a host that cannot run the loop thread fails at app load
        check_limits(
            max_body_size=max_body_size,
            max_header_count=max_header_count,
            max_header_bytes=max_header_bytes,
            max_response_header_bytes=max_response_header_bytes,
        )
        self.max_body_size = max_body_size
        self.max_header_count = max_header_count
        self.max_header_bytes = max_header_bytes
        self.max_response_header_bytes = max_response_header_bytes
        self.app = guarantee_single_callable(asgi_app)  # type: ignore[no-untyped-call]
        self.lifespan = lifespan
        self.loop = loop
        self.wait_time = wait_time
        self.raise_exceptions = raise_exceptions
        self.chunk_size = chunk_size
        self.startup_timeout = startup_timeout
        self.shutdown_timeout = shutdown_timeout
        self._runtime: _Runtime | None = None
        self._lock = threading.Lock()
        self._lock_pid = os.getpid()
        self._closed = False
        ref = weakref.ref(self)

        def _close_at_exit() -> None:
            adapter = ref()
            if adapter is not None:
                try:
                    adapter.close()
                except Exception:  # nobody is left to raise it to
                    logger.exception("ASGI lifespan shutdown raised")

        at_process_exit(self, _close_at_exit)  # atexit; granian's workers skip it

    def _process_lock(self) -> threading.Lock:
        pid = os.getpid()
        if self._lock_pid != pid:  # a lock held at fork time stays held in the child
            self._lock = threading.Lock()
            self._lock_pid = pid
        return self._lock

    def _get_runtime(self, *, eager: bool = False) -> _Runtime:
        runtime = self._runtime
        pid = os.getpid()
        if runtime is not None and runtime.pid == pid:
            return runtime
        with self._process_lock():
            runtime = self._runtime
            if runtime is None or runtime.pid != pid:
                if self._closed:
                    raise RuntimeError("this AsgiToWsgi was closed")
                runtime = _Runtime(self.app, self.lifespan, self.loop)
                runtime.startup(self.startup_timeout, raised_to_caller=eager)
                self._runtime = runtime
            return runtime

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        """The WSGI entry point: serve one request.

        Returns once the app sent its first body message (or finished), so
        `start_response` has already been called; the returned iterable yields
        each further body message as the app sends it. Closing it early (the
        client left) gives the app `http.disconnect`, makes its next `send`
        raise [`ClientDisconnected`][bridge.ClientDisconnected] and cancels it.
        """
        runtime = self._get_runtime()
        if runtime.startup_error is not None:
            return _plain(
                start_response,
                "500 Internal Server Error",
                b"ASGI lifespan startup failed: "
                + runtime.startup_error.encode("utf-8", "replace"),
            )
        if "HTTP_UPGRADE" in environ:
            # A WebSocket upgrade, on a host that hands over the connection.
            from ._websocket_asgi_to_wsgi import serve_upgrade  # noqa: PLC0415

            upgraded = serve_upgrade(self, runtime, environ, start_response)
            if upgraded is not None:
                return upgraded
        lifespan = runtime.lifespan
        try:
            length = request_body_length(environ)
            check_declared_length(length, self.max_body_size)
            scope = build_scope(
                environ,
                state=dict(lifespan.state) if lifespan.supported else None,
                extensions=_EXTENSIONS,
                max_header_count=self.max_header_count,
                max_header_bytes=self.max_header_bytes,
            )
        except RequestRejected as rejected:
            return _plain(
                start_response, status_line(rejected.status), rejected.reason.encode() + b"\n"
            )
        call = _AsgiCall(self, runtime, scope, environ, length)
        runtime.loop.call_soon_threadsafe(call.start)
        return call.respond(start_response)

    def startup(self) -> None:
        """Start the loop thread and run lifespan startup in this process, now.

        Without it, both happen at the first request. Call it from a WSGI
        server's per-worker hook (gunicorn's `post_worker_init`, uWSGI's
        `@postfork`) so that a failing startup fails the worker at boot, not
        the first user's request; never in a process that forks afterwards
        (a `--preload` master). Does nothing if startup already ran here.
        [`WsgiToAsgi`][bridge.WsgiToAsgi] calls it for a wrapped `AsgiToWsgi`
        when its ASGI server starts up.

        Raises:
            Exception: the app's own exception, when its lifespan raised with
                `lifespan.startup.failed` (Starlette does), as an ASGI server
                running the app would show it.
            RuntimeError: lifespan startup failed otherwise (`lifespan.startup.failed`,
                or no answer within `startup_timeout`), or the adapter was
                closed.
        """
        runtime = self._get_runtime(eager=True)
        if runtime.startup_exception is not None:
            raise runtime.startup_exception  # the app's own, as its server would show it
        if runtime.startup_error is not None:
            raise RuntimeError(f"ASGI lifespan startup failed: {runtime.startup_error}")

    def shutdown(self) -> None:
        """Run lifespan shutdown and stop the loop thread; the adapter stays usable.

        The next request (or [`startup()`][bridge.AsgiToWsgi.startup]) starts a
        fresh loop and lifespan, as an ASGI server started again would. For a
        WSGI server's worker-exit hook (gunicorn's `worker_exit`); `close()` is
        `shutdown()` for good. Lifespan shutdown, cancelling requests still in
        flight and stopping the loop share one deadline of `shutdown_timeout`
        seconds (past it, at most a second more per step to release blocked
        workers and stop the loop). A loop passed in with `loop=` is left
        running.

        Raises:
            Exception: the app's own exception, when its lifespan raised during
                shutdown (after the loop stopped); a `lifespan.shutdown.failed`
                without one is logged.
        """
        with self._process_lock():
            runtime, self._runtime = self._runtime, None
        if runtime is not None:
            runtime.shutdown(self.shutdown_timeout)

    def close(self) -> None:
        """[`shutdown()`][bridge.AsgiToWsgi.shutdown], and refuse requests from then on.

        Idempotent. Also called on leaving a `with AsgiToWsgi(app) as wsgi_app:`
        block and at interpreter exit. After `close()`, further requests and
        `startup()` raise `RuntimeError`.
        """
        with self._process_lock():
            if self._closed:
                return
            self._closed = True
        self.shutdown()

    def __enter__(self) -> AsgiToWsgi:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


ASGIMiddleware = AsgiToWsgi
