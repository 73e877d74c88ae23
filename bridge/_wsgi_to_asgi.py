"""WsgiToAsgi: a WSGI application served by an ASGI server.

Theory of operation
-------------------
For each ``http`` request the ASGI task (the *loop side*) builds the environ
with the pure :func:`~bridge._environ.build_environ`, hands a
:class:`_WsgiCall` to the adapter's thread pool (the *thread side*) and then
only moves messages. Two :class:`~bridge._channel.Channel` objects join the
sides:

``out`` (thread -> loop, bounded by ``send_queue_size`` chunks and
``response_buffer_size`` bytes)
    Batches of ASGI messages to ``send`` in order, a ``_DEMAND`` marker that
    asks for the request body, a ``_PARK`` marker (below) or a ``_Failure``
    carrying the app's exception. The loop side acknowledges every item after
    its ``send`` completed, which is what ``write()`` waits for.

``body`` (loop -> thread, bounded by ``_BODY_READ_AHEAD`` chunks)
    Request body chunks for ``wsgi.input``, for a body too large to pre-read
    (below). Nothing is received before the app first reads (``_DEMAND``), so
    ``100-continue`` stays lazy. A chunk that does not come within
    ``body_timeout`` makes the read raise ``RequestBodyTimeout`` (408).

A body with a declared Content-Length up to ``preread_size`` (and no
``Expect: 100-continue``) is received on the loop by :func:`_preread_body`
before the request is handed to the pool, so a slow uploader holds no worker
thread; the app reads it from memory. The pool logs a rate-limited warning
when every worker is busy and requests queue.

A worker that finds no room in ``out`` for ``_PARK_AFTER`` seconds (the
client is slower than the app) gives its thread back: the iterator is parked
with the chunk in hand and a ``_PARK`` marker follows the queued chunks; when
the loop side reaches it, everything before it was sent, and it submits the
next step of the same call to the pool (:meth:`_WsgiCall.start`). So a slow
reader holds memory (the bounds of ``out``) but no thread, except with
``pin_response_thread`` or while the app itself blocks (``write()``, a
generator that waits for events).

The common case costs one hop each way and no extra task: a request without
a body, an app that returns a list. Only when the body is read or the response
streams does the loop side start a task group with :func:`_receive_loop`,
which feeds ``body`` and then watches for ``http.disconnect``; a disconnect
closes ``out``, so the thread's next ``put`` raises and the iterable is closed.

Rules the thread side keeps (PEP 3333; checklist A4-A6): headers wait for the
first non-empty chunk, a ``write()`` or the end of the body, so ``exc_info``
can replace them; ``close()`` is called exactly once, on the worker thread, on
every path; no more than a declared Content-Length is sent; after headers went
out, a failure never sends the final ``more_body=False``.

Nothing the app reports is lost: an exception handed to ``start_response``
with ``exc_info`` before the headers, or raised by ``close()`` after the whole
body, waits in ``_WsgiCall.error_after_response`` and is raised from the ASGI
call once the response went out complete, for the server to log. A lifespan
scope is answered here and forwarded to a wrapped ``AsgiToWsgi`` (found by
:func:`wrapped_asgi_to_wsgi`), so a round trip keeps the app's own lifespan.
"""

from __future__ import annotations

import contextvars
import logging
import os
import queue
import stat
import sys
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping
from functools import partial
from types import TracebackType
from typing import IO, Any

import anyio

from ._asgi_to_wsgi import AsgiToWsgi
from ._channel import Channel, ChannelClosed, LoopHandle
from ._environ import build_environ
from ._errors import (
    RAISES_EXC_INFO,
    ClientDisconnected,
    RequestBodyTimeout,
    RequestBodyTooLarge,
    RequestRejected,
)
from ._http import encode_wsgi_headers, parse_status
from ._limits import (
    DEFAULT_DUPLICATE_HEADER_LIMIT,
    DEFAULT_MAX_BODY_SIZE,
    DEFAULT_MAX_HEADER_BYTES,
    DEFAULT_MAX_HEADER_COUNT,
    DEFAULT_MAX_RESPONSE_HEADER_BYTES,
    body_grew_too_large,
    check_declared_length,
    check_limits,
)
from ._wsgi_input import RequestBody

logger = logging.getLogger("bridge")

ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]
StartResponse = Callable[..., Callable[[bytes], None]]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
Message = dict[str, Any]
Receive = Callable[[], Any]
Send = Callable[[Message], Any]

_BODY_READ_AHEAD = 4
#: A request body with a declared Content-Length up to this size is received on
#: the loop before the app runs (``preread_size``; docs/performance.md).
DEFAULT_PREREAD_SIZE = 256 * 1024
#: Seconds without request body data after which a read gives up (408), in line
#: with common servers' client body timeouts (nginx's ``client_body_timeout``).
DEFAULT_BODY_TIMEOUT = 60.0
#: How many bytes of response body the WSGI app may produce ahead of the client
#: (``response_buffer_size``; docs/performance.md has the measurement).
DEFAULT_RESPONSE_BUFFER_SIZE = 256 * 1024
#: Seconds a worker waits for the client to catch up before it gives its thread
#: back and the response's iterator is parked until the loop wants more. Long
#: enough that a fast client never parks (the loop takes a chunk within
#: microseconds), short enough that a thousand slow readers cost a fraction of
#: one thread in waiting.
_PARK_AFTER = 0.002
#: At lifespan shutdown, how long running WSGI calls get to end (and close()).
_SHUTDOWN_GRACE = 5.0
_NO_BODY_STATUSES = frozenset({204, 304})


class _Demand:
    """Marker: the app wants request body data."""


_DEMAND = _Demand()


class _Park:
    """Marker: the worker gave its thread back; resume the call when this is reached.

    Queued after the response chunks already produced, so by the time the loop
    side takes it, it has sent them all and the channel has room again.
    """


_PARK = _Park()
_END: Any = object()  # what next() gives at the end of the app's iterator
#: The final batch of a response whose last message already went out (a file).
_NOTHING_MORE: list[Message] = []


class _AppError(Exception):
    """Carries the app's exception out of `_pump` past ``except OSError``.

    On the ASGI side an ``OSError`` from ``send`` means the client went away
    (ASGI spec 2.4) and ends the call quietly; the app's own ``OSError``
    (``FileNotFoundError``, ``RequestBodyTooLarge`` after the response began)
    must not be mistaken for one.
    """

    def __init__(self, exc: BaseException) -> None:
        super().__init__(exc)
        self.exc = exc


class _Failure:
    __slots__ = ("exc",)

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


class WsgiErrors:
    """``wsgi.errors``: a text stream onto the *current* ``sys.stderr``."""

    def write(self, text: str) -> int:
        stream = sys.stderr
        try:
            return stream.write(text)
        except UnicodeEncodeError:
            return stream.write(text.encode("ascii", "backslashreplace").decode("ascii"))

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        sys.stderr.flush()


#: The block size a ``wsgi.file_wrapper`` over a regular file is read in, at
#: least: an app's 8 KiB (werkzeug's) costs a trip through the bridge per 8 KiB.
FILE_BLOCK_SIZE = 256 * 1024


def _regular_file_stat(filelike: object) -> os.stat_result | None:
    """``fstat`` of the regular file under ``filelike``; None for anything else."""
    try:
        info = os.fstat(filelike.fileno())  # type: ignore[attr-defined]
    except (AttributeError, OSError, ValueError, TypeError):
        return None
    return info if stat.S_ISREG(info.st_mode) else None


class FileWrapper:
    """``wsgi.file_wrapper``: iterate a file from its current position in blocks.

    ``blksize`` is PEP 3333's suggestion; a regular file is read in blocks of
    at least ``FILE_BLOCK_SIZE`` (a larger read of a file never waits for more
    data, as one of a pipe or socket would). A server that offers pathsend or
    zerocopysend gets the file whole instead (:func:`file_message`).
    """

    def __init__(self, filelike: IO[bytes], blksize: int = 8192) -> None:
        self.filelike = filelike
        self.blksize = blksize

    def __iter__(self) -> Iterator[bytes]:
        read = self.filelike.read
        size = self.blksize
        if size < FILE_BLOCK_SIZE and _regular_file_stat(self.filelike) is not None:
            size = FILE_BLOCK_SIZE
        while True:
            block = read(size)
            if not block:
                return
            yield block

    def close(self) -> None:
        close = getattr(self.filelike, "close", None)
        if close is not None:
            close()


_Job = tuple[Callable[..., object], tuple[object, ...]]
#: Seconds between two "all workers are busy" warnings of one pool.
SATURATION_WARNING_PERIOD = 60.0


def _work(
    tokens: queue.SimpleQueue[bool | None],
    first: deque[_Job],
    later: deque[_Job],
    busy: list[None],
) -> None:
    """A worker thread: run jobs until the ``None`` that says the pool is gone.

    Each token says one job waits; the job run is the oldest in ``first`` if
    any, else the oldest in ``later``. Every token follows its job's append, so
    there is always a job for it (deque append and popleft are atomic).
    """
    get = tokens.get
    while True:
        if get() is None:
            return
        func, args = first.popleft() if first else later.popleft()
        busy.append(None)
        try:
            func(*args)
        except BaseException:  # pragma: no cover - _WsgiCall reports through channels
            logger.exception("unexpected error in a bridge worker thread")
        finally:
            busy.pop()
        del func, args


def _stop_workers(tokens: queue.SimpleQueue[bool | None], threads: list[threading.Thread]) -> None:
    for _ in threads:
        tokens.put(None)


class WorkerPool:
    """Up to ``size`` daemon threads running submitted calls.

    Lighter than ``ThreadPoolExecutor`` on the hot path: ``submit`` is a deque
    append and one ``SimpleQueue.put`` (plus starting a thread while fewer than
    ``size`` run) and no Future is made, because the bridge hears about
    completion through its channels. Threads end on :meth:`shutdown` or when
    the pool is garbage collected, as ``ThreadPoolExecutor``'s do.

    Two priorities: a new request (:meth:`submit`) runs before the next step of
    a response that waited for its client (:meth:`submit_later`). Slow readers
    that catch up together (a thousand downloads at one pace) queue a burst of
    steps; a new request does not wait behind them.
    """

    def __init__(self, size: int, name: str) -> None:
        self._size = size
        self._name = name
        self._tokens: queue.SimpleQueue[bool | None] = queue.SimpleQueue()
        self._first: deque[_Job] = deque()
        self._later: deque[_Job] = deque()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._finalizer = weakref.finalize(self, _stop_workers, self._tokens, self._threads)
        # One item per thread running a job: list append/pop are each atomic under
        # the GIL, so len() is exact without a lock on the hot path (a ``+= 1``
        # from two threads can lose one).
        self.busy: list[None] = []
        self._warned_at: float | None = None

    def submit(self, func: Callable[..., object], *args: object) -> None:
        """Run ``func(*args)`` on a worker, before any job of :meth:`submit_later`."""
        if len(self.busy) >= self._size:
            self._warn_saturated()
        self._first.append((func, args))
        self._tokens.put(True)
        if len(self._threads) < self._size:
            self._start_thread()

    def submit_later(self, func: Callable[..., object], *args: object) -> None:
        """Run ``func(*args)`` on a worker once no :meth:`submit` job waits."""
        self._later.append((func, args))
        self._tokens.put(True)
        if len(self._threads) < self._size:
            self._start_thread()

    def _start_thread(self) -> None:
        with self._lock:
            if len(self._threads) < self._size and self._finalizer.alive:
                thread = threading.Thread(
                    target=_work,
                    args=(self._tokens, self._first, self._later, self.busy),
                    name=f"{self._name}-{len(self._threads)}",
                    daemon=True,
                )
                thread.start()
                self._threads.append(thread)

    def _warn_saturated(self) -> None:
        """Every thread is busy and this request will queue: say so, at most once a minute."""
        now = time.monotonic()
        if self._warned_at is not None and now - self._warned_at < SATURATION_WARNING_PERIOD:
            return
        self._warned_at = now
        logger.warning(
            "all %d WSGI worker threads are busy: requests are queueing. Each running "
            "request holds one: slow work, a large or chunked upload the app is reading, "
            "a long-lived response (server-sent events, a slow download); raise "
            "WsgiToAsgi(..., workers=N) to serve more at once (docs/wsgi-to-asgi.md)",
            self._size,
        )

    def shutdown(self, wait: bool = False, timeout: float | None = None) -> None:
        """Let the threads finish their current job and end (waiting at most ``timeout``)."""
        self._finalizer()
        if wait:
            deadline = None if timeout is None else time.monotonic() + timeout
            for thread in self._threads:
                thread.join(None if deadline is None else max(deadline - time.monotonic(), 0))


def _body(chunk: bytes, more: bool) -> Message:
    return {"type": "http.response.body", "body": chunk, "more_body": more}


class _WsgiCall:
    """One request on the thread side: ``start_response``, ``write`` and the iterable."""

    __slots__ = (
        "_input",
        "app",
        "asgi_ended",
        "body_channel",
        "body_timed_out",
        "buffer_size",
        "called",
        "context",
        "environ",
        "error_after_response",
        "file_extensions",
        "header_limit",
        "headers",
        "headers_sent",
        "iterable",
        "iterator",
        "out",
        "park_after",
        "pending",
        "remaining",
        "status",
        "wrote",
    )

    def __init__(
        self,
        app: WSGIApp,
        environ: dict[str, Any],
        out: Channel[Any],
        header_limit: int = DEFAULT_MAX_RESPONSE_HEADER_BYTES,
        *,
        park_after: float | None = None,
        buffer_size: int = DEFAULT_RESPONSE_BUFFER_SIZE,
        file_extensions: frozenset[str] = frozenset(),
    ) -> None:
        self.app = app
        # Which of pathsend and zerocopysend the server offers, for file responses.
        self.file_extensions = file_extensions
        self.header_limit = header_limit
        self.environ = environ
        self.out = out
        # Seconds to wait for room in ``out`` before parking the iterator and
        # giving the thread back; None keeps the thread for the whole response.
        self.park_after = park_after
        # response_buffer_size: ``out``'s byte bound, turned on when the response
        # streams (a response known whole crosses as one batch and needs none).
        self.buffer_size = buffer_size
        self.context: contextvars.Context | None = None
        self.body_channel: Channel[bytes] | None = None
        # The app's iterable while the response streams (closed exactly once),
        # its iterator and, while parked, the batch that found no room.
        self.iterable: Iterable[bytes] | None = None
        self.iterator: Iterator[bytes] | None = None
        self.pending: tuple[list[Message], int] | None = None
        self.called = False
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.headers_sent = False
        self.wrote = False
        self.remaining: int | None = None  # bytes left under a declared Content-Length
        # An error to raise from the ASGI call once the response went out whole:
        # one reported through exc_info before the headers (the app replaced its
        # response) or raised by the iterable's close() after the whole body.
        self.error_after_response: BaseException | None = None
        self.asgi_ended = False  # the ASGI call has finished: it raises nothing more
        # Filled by a wsgi.input read that gave up after body_timeout (the reason):
        # whatever the app answers then (Flask turns the read's error into a 500),
        # the client gets 408 if nothing was sent yet. A list shared with the
        # read, not a reference to this call, so that no cycle keeps the request.
        self.body_timed_out: list[str] = []

    # -- PEP 3333 callables ------------------------------------------------
    def start_response(
        self, status: str, headers: list[tuple[str, str]], exc_info: ExcInfo | None = None
    ) -> Callable[[bytes], None]:
        if exc_info is not None:
            try:
                if self.headers_sent:
                    raise exc_info[1].with_traceback(exc_info[2])
                # PEP 3333: replace the response. The exception is not lost:
                # the ASGI call raises it once the replacement went out whole,
                # so the server logs it and test clients raise it.
                self.error_after_response = exc_info[1]
            finally:
                exc_info = None  # no reference cycle through the traceback
        elif self.called:
            raise RuntimeError("start_response() called a second time without exc_info (PEP 3333)")
        self.called = True
        self.status = 0  # an invalid call leaves no usable status behind
        code = parse_status(status)
        encoded = encode_wsgi_headers(headers, self.header_limit)
        self.status = code
        self.headers = encoded
        self.remaining = None
        for name, value in encoded:
            if name == b"content-length":
                try:
                    self.remaining = int(value)
                except ValueError:
                    raise ValueError(f"invalid Content-Length header {value!r}") from None
        return self.write

    def write(self, data: bytes) -> None:
        if type(data) is not bytes:
            if not isinstance(data, (bytes, bytearray, memoryview)):
                raise TypeError(f"write() takes bytes, got {type(data).__name__}")
            data = bytes(data)
        self.wrote = True
        batch = self._chunk_batch(data)
        if batch:
            self.out.put_many((batch,))
            self.out.join()  # PEP 3333: write() returns once the data was sent

    # -- helpers -------------------------------------------------------------
    def _start_message(self) -> Message:
        if self.body_timed_out:  # run() answers 408 instead of this response
            raise RequestBodyTimeout(self.body_timed_out[0])
        if not self.called or self.status == 0:
            raise RuntimeError("the WSGI app produced a response without calling start_response()")
        self.headers_sent = True
        return {"type": "http.response.start", "status": self.status, "headers": self.headers}

    def _trim(self, chunk: bytes) -> bytes:
        """The part of ``chunk`` a declared Content-Length still allows (A5.6)."""
        remaining = self.remaining
        if remaining is None:
            return chunk
        if len(chunk) > remaining:
            chunk = chunk[: max(remaining, 0)]
        self.remaining = remaining - len(chunk)
        return chunk

    def _chunk_batch(self, chunk: bytes) -> list[Message]:
        """Messages for one non-empty chunk (with the start message first if due)."""
        chunk = self._trim(chunk)
        if not chunk:
            return []
        if self.headers_sent:
            return [_body(chunk, True)]
        return [self._start_message(), _body(chunk, True)]

    def _log_if_short(self) -> None:
        if self.remaining:
            logger.error(
                "WSGI app declared Content-Length but sent %d bytes fewer; the response is short",
                self.remaining,
            )

    def _final_batch(self) -> list[Message]:
        self._log_if_short()
        if self.headers_sent:
            return [_body(b"", False)]
        return [self._start_message(), _body(b"", False)]

    def _whole_response(self, chunks: list[bytes] | tuple[bytes, ...]) -> list[Message]:
        """A response known in full (a list or tuple): one batch, one hop."""
        parts = []
        for chunk in chunks:
            if type(chunk) is not bytes:
                raise TypeError(f"WSGI app yielded {type(chunk).__name__}, not bytes (PEP 3333)")
            if chunk:
                parts.append(chunk)
        start = self._start_message()
        if (
            self.remaining is None
            and self.status not in _NO_BODY_STATUSES
            and self.environ["REQUEST_METHOD"] != "HEAD"
        ):
            total = sum(len(p) for p in parts)
            start["headers"] = [*self.headers, (b"content-length", str(total).encode())]
        elif self.remaining is not None:
            parts = [kept for kept in map(self._trim, parts) if kept]
            self._log_if_short()
        if not parts:
            return [start, _body(b"", False)]
        messages = [start]
        messages.extend(_body(p, True) for p in parts[:-1])
        messages.append(_body(parts[-1], False))
        return messages

    # -- the job ------------------------------------------------------------
    # A request runs as one or more *steps* on the pool, each in the request's
    # own contextvars context: ``start`` calls the app and drains its iterable;
    # when a slow client leaves no room for the next chunk within ``park_after``
    # the step ends (the iterator is *parked*, its thread goes back to the
    # pool) and a ``_PARK`` marker follows the queued chunks. The loop side,
    # reaching the marker once it sent them, submits ``resume``, which goes on
    # where the step stopped, on whichever worker is free. If the ASGI side ends
    # while the call is parked, ``abandon`` closes the iterable instead.
    def start(
        self,
        context: contextvars.Context,
        body: RequestBody,
        body_channel: Channel[bytes] | None,
    ) -> None:
        """The first step: run the app in ``context`` on this worker thread."""
        self.context = context
        self.environ["wsgi.input"] = body
        self.body_channel = body_channel
        if context.run(self._step):
            self._park()

    def resume(self) -> None:
        """A later step: go on draining the parked iterator."""
        context = self.context
        assert context is not None
        if context.run(self._step):
            self._park()

    def _park(self) -> None:
        """Tell the loop side to resume this call once it sent what is queued.

        Outside the context: the resume may start on another thread before
        this one returns, and one context cannot be entered twice at once.
        From now on the call parks as soon as it finds no room: its client has
        shown it is slower than the app, and waiting again would only hold a
        thread (a thousand slow readers would each hold one for the wait).
        """
        self.park_after = 0.0
        try:
            self.out.put_nowait(_PARK)
        except BaseException:  # the ASGI side ended meanwhile: nobody will resume
            self.abandon()

    def abandon(self) -> None:
        """The ASGI side ended while the call was parked: close the iterable."""
        context = self.context
        assert context is not None
        context.run(self._abandon)

    def _abandon(self) -> None:
        iterable, self.iterable = self.iterable, None
        self.iterator = self.pending = None
        try:
            if iterable is not None:
                self._close_keeping_error(iterable)
        finally:
            if self.body_channel is not None:
                self.body_channel.close()
        self.log_unraised_error()  # the ASGI call has ended: nobody else raises it

    def _step(self) -> bool:
        """Run the app, or go on with its parked iterator, feeding ``out``.

        Returns True when the iterator was parked (the response goes on in a
        later step), False when the call is over.
        """
        out = self.out
        body_channel = self.body_channel
        parked = False
        try:
            final = self._call_app()
            if final is None:
                parked = True
                return True
        except RequestBodyTimeout as exc:
            # The upload stalled past body_timeout and the app let the read
            # error through: 408 if nothing was sent yet, else a cut response.
            final = None
            if self.headers_sent:
                self._report(exc)
            else:
                final = _plain_messages(408, f"{exc}\n")
            del exc
        except ClientDisconnected:
            # The loop side closed `out` (client gone, task cancelled) or the
            # upload was cut off. Report it; a closed channel just refuses it.
            final = None
            self._report(ClientDisconnected("client disconnected"))
        except BaseException as exc:
            final = None
            if isinstance(exc, RequestBodyTooLarge) and not self.headers_sent:
                # max_body_size crossed, the app let the read error through and
                # nothing was sent yet: 413. After the headers it is like any
                # other app error: reported, so the response is cut off.
                final = _plain_messages(413, f"{exc}\n")
            else:
                self._report(exc)
            del exc
        finally:
            if body_channel is not None and not parked:
                body_channel.close()  # stop read-ahead; unread body is discarded
        if final is not None:
            try:
                out.put_many((final,))
            except BaseException:
                pass
        if self.asgi_ended:  # the ASGI call is over: it will not raise what the app reported
            self.log_unraised_error()
        return False

    def log_unraised_error(self) -> None:
        """Log ``error_after_response`` if no ASGI call will raise it, and let it go.

        The client left first, or the app failed on. Both sides call this once
        their end is certain: the loop after setting ``asgi_ended``, the worker
        after storing the error and seeing ``asgi_ended`` set, so one of them
        always finds an error the other stored (rarely both, which logs it
        twice; never neither). ``out`` being closed says nothing here: a client
        disconnect after the whole body closes it while the ASGI call still
        raises. Letting the error go frees the app's frames its traceback holds.
        """
        leftover = self.error_after_response
        if leftover is not None:
            self.error_after_response = None
            logger.error("WSGI app reported an error (exc_info or close())", exc_info=leftover)

    def _report(self, error: BaseException) -> None:
        """Hand ``error`` to the loop side; a closed channel just refuses it."""
        try:
            self.out.put_nowait(_Failure(error))
        except BaseException:
            pass

    def _call_app(self) -> list[Message] | None:
        """Run the app and drain its iterable; return the batch that ends the response.

        None when the iterator was parked: it goes on in a later step, which
        calls this again and drains on. The iterable's ``close()`` runs before
        the final batch is handed over, so the ASGI call ends after it (Flask's
        teardown). An exception from ``close()`` after the whole body does not
        cost the client its response: it is kept in ``error_after_response`` and
        raised after the final batch went out.
        """
        iterable = self.iterable
        try:
            if iterable is None:
                iterable = self.app(self.environ, self.start_response)
                final = self._drain(iterable)
            else:
                final = self._stream()
        except BaseException:
            self.iterable = self.iterator = self.pending = None
            if iterable is not None:
                _close(iterable)  # a failure of close() here chains onto the app's
            raise
        if final is None:
            self.iterable = iterable
            return None
        self.iterable = self.iterator = None
        self._close_keeping_error(iterable)
        return final

    def _close_keeping_error(self, iterable: Iterable[bytes]) -> None:
        """``close()`` the iterable after its end; an exception it raises is kept.

        Kept in ``error_after_response``, to be raised once the response went out
        whole (or logged if an earlier error is already kept there).
        """
        try:
            _close(iterable)
        except Exception as exc:
            if self.error_after_response is None:
                self.error_after_response = exc
            else:
                logger.error("the WSGI iterable's close() raised", exc_info=exc)
            del exc

    def _drain(self, iterable: Iterable[bytes]) -> list[Message] | None:
        kind = type(iterable)
        if (kind is list or kind is tuple) and not self.wrote:
            return self._whole_response(iterable)  # type: ignore[arg-type]
        if kind is FileWrapper and self.file_extensions and not self.wrote:
            sent = self._send_file(iterable)  # type: ignore[arg-type]
            if sent is not None:
                return sent
        self.out.bound_bytes(self.buffer_size)
        self.iterator = iter(iterable)
        return self._stream()

    def _send_file(self, wrapper: FileWrapper) -> list[Message] | None:
        """Hand a file response to the server whole (pathsend or zerocopysend).

        The start and file messages go out as one batch, and this waits until
        the server took them: with zerocopysend the server reads our file
        during ``send``, so ``close()`` (which closes it) must come after.
        Returns the empty final batch, or None to stream the file instead.
        """
        if self.status in _NO_BODY_STATUSES or self.environ["REQUEST_METHOD"] == "HEAD":
            return None
        if not self.called or self.status == 0:
            return None  # _stream raises the usual error
        message = file_message(wrapper.filelike, self.remaining, self.file_extensions)
        if message is None:
            return None
        batch = [self._start_message(), message]
        self.out.put_many((batch,))
        self.out.join()
        if self.remaining is not None:
            self.remaining = 0
        return _NOTHING_MORE

    def _stream(self) -> list[Message] | None:
        """Hand the iterator's chunks to ``out``; the final batch, or None once parked.

        Each chunk waits for room within the byte and chunk bounds of ``out``.
        With ``park_after`` set, the step ends (see ``start``) when ``out`` has
        no room within that many seconds: before the next chunk is made, or, for
        a chunk larger than the room left, with that chunk kept in ``pending``.
        """
        out = self.out
        put = out.put
        park_after = self.park_after
        iterator = self.iterator
        assert iterator is not None
        if self.pending is not None:
            batch, size = self.pending
            self.pending = None
            put(batch, None, size)  # the loop side emptied ``out`` before resuming
        while True:
            if park_after is not None:
                # Wait for room before making the next chunk, so that a worker
                # that gives up its thread holds no chunk the client is not
                # ready for: a parked response costs what ``out`` holds. Once
                # the call has parked (its client is slower than the app), room
                # means an empty ``out``: a slow reader keeps one chunk queued,
                # not the whole ``response_buffer_size``.
                try:
                    out.wait_for_room(park_after, out.max_bytes if park_after == 0.0 else 1)
                except TimeoutError:
                    return None
            chunk = next(iterator, _END)
            if chunk is _END:
                break
            if type(chunk) is not bytes:
                raise TypeError(f"WSGI app yielded {type(chunk).__name__}, not bytes (PEP 3333)")
            if not chunk:
                continue
            batch = self._chunk_batch(chunk)
            if self.remaining is not None and self.remaining <= 0:
                # Content-Length reached: stop iterating, then close(). This
                # chunk ends the response: handed over after close(), as the
                # final batch, a one-chunk response (Flask's) crosses to the
                # loop as one batch, like a list, with no task to watch for a
                # disconnect, and the ASGI call still ends after close().
                if not batch:
                    break
                batch[-1]["more_body"] = False
                return batch
            if batch:
                size = len(batch[-1]["body"])
                try:
                    put(batch, park_after, size)
                except TimeoutError:
                    self.pending = (batch, size)
                    return None
        return self._final_batch()


PATHSEND = "http.response.pathsend"
ZEROCOPYSEND = "http.response.zerocopysend"


def file_message(
    filelike: object, remaining: int | None, extensions: frozenset[str]
) -> Message | None:
    """The one ASGI message that sends a ``wsgi.file_wrapper`` response, or None.

    ``http.response.pathsend`` when the server offers it and the file, read from
    its start to its end, is exactly the body: a regular file still found at
    its absolute ``name`` (same device and inode), positioned at 0, whose size
    is the declared Content-Length if any. Otherwise
    ``http.response.zerocopysend`` from the file's position for the declared
    length (or to its end), when offered. None when neither fits: the body is
    then read in blocks as from any iterable (a pipe, a socket, ``BytesIO``, a
    file shorter than its Content-Length).
    """
    info = _regular_file_stat(filelike)
    if info is None:
        return None
    try:
        position = filelike.tell()  # type: ignore[attr-defined]
    except (AttributeError, OSError, ValueError, TypeError):
        return None
    if not isinstance(position, int):
        return None
    left = max(info.st_size - position, 0)
    if remaining is not None and remaining > left:
        return None  # a short file: streamed, so the short response is logged
    count = left if remaining is None else remaining
    if PATHSEND in extensions and position == 0 and count == info.st_size:
        name = getattr(filelike, "name", None)
        if isinstance(name, str) and os.path.isabs(name):
            try:
                named = os.stat(name)
            except OSError:
                named = None
            if named is not None and (named.st_dev, named.st_ino) == (info.st_dev, info.st_ino):
                return {"type": PATHSEND, "path": name}
    if ZEROCOPYSEND in extensions:
        return {
            "type": ZEROCOPYSEND,
            "file": filelike,
            "offset": position,
            "count": count,
            # more_body left out (False by default): a batch that ends with
            # more_body False would end the bridge's ASGI call before close().
        }
    return None


def _close(iterable: Iterable[bytes]) -> None:
    close = getattr(iterable, "close", None)
    if close is not None:
        close()


def _plain_messages(status: int, text: str) -> list[Message]:
    body = text.encode("utf-8")
    return [
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
            ],
        },
        {"type": "http.response.body", "body": body, "more_body": False},
    ]


async def _send_plain(send: Send, status: int, text: str) -> None:
    for message in _plain_messages(status, text):
        await send(message)


def _request_chunk(message: Message) -> bytes | None:
    """The body of an ``http.request`` message; None for ``http.disconnect``.

    Any other message type raises ``RuntimeError`` (A3.8), a body that is not
    bytes ``TypeError``: the two readers of the request body (the pre-read and
    :func:`_receive_loop`) refuse the same messages with the same errors.
    """
    kind = message["type"]
    if kind == "http.disconnect":
        return None
    if kind != "http.request":
        raise RuntimeError(f"unexpected ASGI receive() message type {kind!r}")
    chunk = message.get("body", b"")
    if type(chunk) is not bytes:
        raise TypeError(f"http.request 'body' must be bytes, got {type(chunk).__name__}")
    return chunk


async def _receive_loop(receive: Receive, body: Channel[bytes] | None, out: Channel[Any]) -> None:
    """Feed the request body to ``wsgi.input``, then watch for ``http.disconnect``.

    Runs only once the app reads the body or the response streams. Body beyond
    what the app reads is discarded, bounded by the read-ahead of ``body``.
    """
    complete = body is None
    while True:
        message = await receive()
        kind = message["type"]
        if kind == "http.disconnect":
            error = ClientDisconnected("the client disconnected")
            if body is not None:
                body.close(
                    error
                    if not complete
                    else ClientDisconnected("the client disconnected after the body")
                )
            out.close(error)
            return
        if complete and kind == "http.request":
            continue  # discard: the body ended, or the app stopped reading
        try:
            chunk = _request_chunk(message)
        except (RuntimeError, TypeError) as bad:
            # Reported through the channels: the worker's read and the pump's
            # next get raise it, so it surfaces from the ASGI call itself.
            if body is not None:
                body.close(bad)
            out.close(bad)
            return
        assert body is not None and chunk is not None
        if chunk:
            try:
                await body.aput(chunk)
            except (ChannelClosed, ClientDisconnected):
                complete = True  # the app is done with the body
                continue
        if not message.get("more_body", False):
            complete = True
            body.close()  # EOF for the reader


class WsgiToAsgi:
    """Serve a WSGI application from an ASGI server.

    `WsgiToAsgi(wsgi_app)` is an ASGI 3 application: give it to uvicorn,
    hypercorn (asyncio or trio), daphne or granian, or mount it inside an ASGI
    app. Each HTTP request runs the WSGI app on one of `workers` threads of the
    adapter's own pool; the request body streams into `wsgi.input` and the
    response streams out, both through bounded queues, so memory per request
    stays flat whatever the body size.

    `lifespan` scopes are answered (`startup.complete`, `shutdown.complete`),
    `websocket` scopes reach a WSGI WebSocket app (Flask-Sock, simple-websocket)
    as an upgrade request with a socket (docs/websockets.md), and any other
    scope type raises `ValueError`.

    `bridge.WSGIMiddleware` is the same class under a2wsgi's name.

    Example:
        ```python
        from flask import Flask
        from bridge import WsgiToAsgi

        flask_app = Flask(__name__)
        app = WsgiToAsgi(flask_app)   # uvicorn app:app
        ```

    Args:
        wsgi_app: the WSGI (PEP 3333) application.
        workers: size of this adapter's thread pool, that is how many requests
            the WSGI app runs at once (default 10, a2wsgi's default). More
            requests queue; none is refused. Threads start as requests need
            them, again in a forked child, and end when the adapter is garbage
            collected. `wsgi.multithread` is `workers > 1`.
        send_queue_size: how many response chunks the WSGI app may produce
            ahead of the client (default 10, a2wsgi's meaning). A slow client
            holds at most this many chunks in memory.
        response_buffer_size: how many bytes of response body the WSGI app
            may produce ahead of the client (default 256 KiB; one chunk larger
            than this still goes, alone). A response that fits is finished by
            its thread while the loop sends it; a larger one waits for the
            client, in constant memory. Once a client has fallen behind (see
            `pin_response_thread`), its response keeps one chunk queued.
        pin_response_thread: `False` (default): a worker whose client does not
            keep up gives its thread back after a moment, and the response's
            iterator goes on later, on whichever worker is free, in the same
            `contextvars` context, so slow readers and long downloads do not
            hold the pool. `True`: the iterator runs on one thread from start to
            end, as on a WSGI server, for iterators that keep state in
            `threading.local` (docs/wsgi-to-asgi.md).
        duplicate_header_limit: more copies of one request header than this
            are answered with `400 Bad Request` without calling the app
            (default 100, asgiref's limit against CVE-2025-14550). `None`: no
            limit, as in asgiref (`max_header_count` still bounds the copies).
        max_body_size: the largest request body in bytes, or `None` (default:
            no limit; the body is streamed, never held). A larger declared
            Content-Length is answered with 413 without calling the app; a body
            without one that grows past it makes `wsgi.input` reads raise
            [`RequestBodyTooLarge`][bridge.RequestBodyTooLarge] (413 unless the
            app catches it).
        max_header_count: more request headers than this get 431 (default 100).
        max_header_bytes: request header names and values adding up to more
            bytes than this get 431, a path plus query string longer than this
            414 (default 64 KiB).
        max_response_header_bytes: response header names and values adding up
            to more than this make `start_response` raise `ValueError`; they are
            never forwarded (default 64 KiB).
        preread_size: a request body with a declared Content-Length up to this
            many bytes is received on the event loop before a worker thread is
            taken, so a slow uploader holds no thread (default 256 KiB; 0
            turns it off). Larger and chunked bodies, and any request with
            `Expect: 100-continue`, are read lazily as the app reads.
        body_timeout: seconds a request body may make no progress. Past it a
            pre-read body gets `408 Request Timeout` without calling the app,
            and a `wsgi.input` read raises
            [`RequestBodyTimeout`][bridge.RequestBodyTimeout], freeing the
            worker thread; the client gets 408 if nothing was sent yet,
            whatever the app answers (default 60; `None`: wait for ever).

    Raises:
        ValueError: `workers`, `send_queue_size` or `response_buffer_size` is less than 1,
            `preread_size` is negative, or `body_timeout` is not positive.
    """

    def __init__(
        self,
        wsgi_app: WSGIApp,
        *,
        workers: int = 10,
        send_queue_size: int = 10,
        duplicate_header_limit: int | None = DEFAULT_DUPLICATE_HEADER_LIMIT,
        max_body_size: int | None = DEFAULT_MAX_BODY_SIZE,
        max_header_count: int = DEFAULT_MAX_HEADER_COUNT,
        max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES,
        max_response_header_bytes: int = DEFAULT_MAX_RESPONSE_HEADER_BYTES,
        preread_size: int = DEFAULT_PREREAD_SIZE,
        body_timeout: float | None = DEFAULT_BODY_TIMEOUT,
        response_buffer_size: int = DEFAULT_RESPONSE_BUFFER_SIZE,
        pin_response_thread: bool = False,
    ) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        if preread_size < 0:
            raise ValueError("preread_size must be 0 or more")
        if body_timeout is not None and not 0 < body_timeout <= threading.TIMEOUT_MAX:
            raise ValueError(
                f"body_timeout must be a positive number of seconds up to "
                f"{threading.TIMEOUT_MAX:.0f}, or None"
            )
        if send_queue_size < 1:
            raise ValueError("send_queue_size must be at least 1")
        if response_buffer_size < 1:
            raise ValueError("response_buffer_size must be at least 1")
        check_limits(
            duplicate_header_limit=duplicate_header_limit,
            max_body_size=max_body_size,
            max_header_count=max_header_count,
            max_header_bytes=max_header_bytes,
            max_response_header_bytes=max_response_header_bytes,
        )
        self.app = wsgi_app
        self.workers = workers
        self.send_queue_size = send_queue_size
        self.duplicate_header_limit = duplicate_header_limit
        self.max_body_size = max_body_size
        self.max_header_count = max_header_count
        self.max_header_bytes = max_header_bytes
        self.max_response_header_bytes = max_response_header_bytes
        self.preread_size = preread_size
        self.body_timeout = body_timeout
        self.response_buffer_size = response_buffer_size
        self.pin_response_thread = pin_response_thread
        self._executor: WorkerPool | None = None
        self._executor_pid = 0
        self._executor_lock = threading.Lock()
        self._base_environ: dict[str, Any] = {
            "wsgi.version": (1, 0),
            "wsgi.errors": WsgiErrors(),
            "wsgi.multithread": workers > 1,
            "wsgi.multiprocess": True,
            "wsgi.run_once": False,
            "wsgi.input_terminated": True,
            "wsgi.file_wrapper": FileWrapper,
            RAISES_EXC_INFO: True,
        }

    def _get_executor(self) -> WorkerPool:
        executor = self._executor
        if executor is not None and self._executor_pid == os.getpid():
            return executor
        with self._executor_lock:  # first use, or first use in a forked child
            if self._executor is None or self._executor_pid != os.getpid():
                self._executor = WorkerPool(self.workers, "bridge-wsgi")
                self._executor_pid = os.getpid()
            return self._executor

    async def __call__(self, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        """The ASGI 3 entry point: serve one `http`, `lifespan` or `websocket` scope.

        Raises:
            ValueError: the scope type is none of those three.
            Exception: whatever the WSGI app raised before its response started
                (the server then answers 500); after the response started, the
                exception also propagates, and no final empty body is sent, so
                a cut-off response never looks complete.
        """
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)
        elif kind == "websocket":
            # Imported here: only an app that gets WebSockets pays for wsproto.
            from ._websocket_wsgi_to_asgi import serve_websocket  # noqa: PLC0415

            await serve_websocket(self, scope, receive, send)
        else:
            raise ValueError(f"WsgiToAsgi cannot serve ASGI scope type {kind!r}")

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        """Answer the server's lifespan, and forward it to a wrapped AsgiToWsgi.

        With ``WsgiToAsgi(AsgiToWsgi(app))`` (directly or through WSGI
        middleware, see :func:`wrapped_asgi_to_wsgi`) the inner app's own
        lifespan starts with the server and ends with it, as if the server
        served ``app`` itself: startup handlers and lifespan state are ready
        before the first request, and a failing startup fails the server's.
        """
        inner = wrapped_asgi_to_wsgi(self.app)
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                if inner is not None:
                    await _forward_lifespan(inner.startup, send, "lifespan.startup.failed")
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self._drain_workers()
                if inner is not None:
                    await _forward_lifespan(inner.shutdown, send, "lifespan.shutdown.failed")
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _drain_workers(self) -> None:
        """Let WSGI calls still running end, so their iterables are closed before exit.

        The server has cancelled (or finished) its requests by now; a worker
        thread notices at its next write or chunk. Bounded by ``_SHUTDOWN_GRACE``:
        the threads are daemons, and an app that computes on would hold the exit.
        A request after this gets a fresh pool.
        """
        with self._executor_lock:
            executor, self._executor = self._executor, None
        if executor is None or self._executor_pid != os.getpid():
            return
        await anyio.to_thread.run_sync(executor.shutdown, True, _SHUTDOWN_GRACE)

    async def _http(self, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        try:
            environ = build_environ(
                scope,
                self._base_environ,
                duplicate_header_limit=self.duplicate_header_limit,
                max_header_count=self.max_header_count,
                max_header_bytes=self.max_header_bytes,
            )
            length_text = environ.get("CONTENT_LENGTH")
            length = int(length_text) if length_text is not None else None
            check_declared_length(length, self.max_body_size)
        except RequestRejected as rejected:
            await _send_plain(send, rejected.status, rejected.reason + "\n")
            return
        max_body = self.max_body_size
        handle = LoopHandle()
        out: Channel[Any] = Channel(handle, self.send_queue_size)
        extensions = scope.get("extensions")
        call = _WsgiCall(
            self.app,
            environ,
            out,
            self.max_response_header_bytes,
            park_after=None if self.pin_response_thread else _PARK_AFTER,
            buffer_size=self.response_buffer_size,
            file_extensions=_file_extensions(extensions) if extensions else _NO_EXTENSIONS,
        )

        has_body = length != 0 and (
            length is not None
            or "HTTP_TRANSFER_ENCODING" in environ
            or environ["SERVER_PROTOCOL"] not in ("HTTP/1.1", "HTTP/1.0")
        )
        body_channel: Channel[bytes] | None = None
        timeout = self.body_timeout
        if not has_body:
            reader = RequestBody(None, 0)
        elif (
            length is not None
            and length <= self.preread_size
            and environ.get("HTTP_EXPECT", "").lower() != "100-continue"
        ):
            # A small declared body is received here, on the loop, before a
            # worker is taken: a slow uploader costs no thread (A3.6). Not with
            # 100-continue: the client waits for the app to want the body.
            try:
                data = await _preread_body(receive, length, timeout)
            except RequestBodyTimeout as stalled:
                await _send_plain(send, 408, f"{stalled}\n")
                return
            if data is None:
                return  # the client left before its body was complete
            reader = RequestBody(_preloaded(data), length)
        else:
            body_channel = Channel(handle, _BODY_READ_AHEAD)
            fetch = _make_fetch(out, body_channel, timeout, call.body_timed_out)
            if max_body is not None and length is None:
                fetch = _limited(fetch, body_channel, max_body)
            reader = RequestBody(fetch, length)

        executor = self._get_executor()
        executor.submit(call.start, contextvars.copy_context(), reader, body_channel)
        app_error: BaseException | None = None
        try:
            item = await out.aget()
            if type(item) is list and item and item[-1].get("more_body") is False:
                # The whole response in one batch: the no-task fast path.
                for message in item:
                    await send(message)
                if call.error_after_response is not None:
                    _raise_error_after_response(call)
                return
            # Raised outside the task group, so the server sees the app's own
            # exception rather than an ExceptionGroup around it.
            outcome: BaseException | None = None
            async with anyio.create_task_group() as tasks:
                try:
                    await _pump(
                        item,
                        out=out,
                        body=body_channel,
                        receive=receive,
                        send=send,
                        tasks=tasks,
                        resume=partial(executor.submit_later, call.resume),
                    )
                except Exception as exc:
                    outcome = exc
                tasks.cancel_scope.cancel()
            if outcome is not None:
                try:
                    raise outcome
                finally:
                    del outcome  # no cycle through this frame (it holds the buffers)
            _raise_error_after_response(call)
        except _AppError as wrapped:
            # The app's own exception, even an OSError such as FileNotFoundError:
            # it propagates to the server (which answers 500 or cuts the stream),
            # raised below, outside this handler, so it gets no __context__ (a cycle).
            app_error = wrapped.exc
        except ClientDisconnected:
            return  # the client went away; the worker has been told
        except OSError as exc:
            # ASGI spec 2.4: `send` raises OSError once the client is gone.
            logger.debug("client went away while sending: %r", exc)
            return
        finally:
            item = None  # a failure it carries would make a cycle through this frame
            # Whatever happened, a worker blocked on either channel wakes up.
            gone = ClientDisconnected("the ASGI side of the request ended")
            out.close(gone)
            if body_channel is not None:
                body_channel.close(gone)
            call.asgi_ended = True
            # park_after is set to 0 before a _PARK marker is queued: only then
            # can one be left (a plain check, no call, on the common path).
            if call.park_after == 0.0 and _parked_marker_left(out):
                executor.submit_later(call.abandon)  # parked: nobody else closes its iterable
            call.log_unraised_error()
        if app_error is not None:
            try:
                raise app_error
            finally:
                del app_error  # no cycle through this frame


async def _forward_lifespan(step: Callable[[], None], send: Send, failed: str) -> None:
    """Run a wrapped AsgiToWsgi's ``startup``/``shutdown`` off the loop.

    If it raises (the app's own exception), send ``failed`` with its message and
    raise it, as Starlette does: test clients raise it, servers log it.
    """
    try:
        await anyio.to_thread.run_sync(step)
    except Exception as exc:
        await send({"type": failed, "message": str(exc)})
        raise


def _raise_error_after_response(call: _WsgiCall) -> None:
    """The response went out whole: now raise what the app reported meanwhile.

    An exception handed to ``start_response`` with ``exc_info`` before the
    headers, or raised by the iterable's ``close()`` after the body, reaches
    the ASGI server (which logs it) and test clients (which raise it) only if
    the ASGI call raises it; the client already has the whole response.
    """
    error = call.error_after_response
    if error is not None:
        call.error_after_response = None
        try:
            raise _AppError(error)
        finally:
            del error  # no cycle through this frame


#: The attributes by which WSGI middleware commonly keeps the app it wraps
#: (Flask's ``wsgi_app``, werkzeug's and most middleware's ``app``, WhiteNoise's
#: ``application``), in the order they are looked at.
_WRAPPED_APP_ATTRIBUTES = ("wsgi_app", "app", "application")
_MAX_WRAPPING_DEPTH = 16


def wrapped_asgi_to_wsgi(app: object) -> AsgiToWsgi | None:
    """The :class:`~bridge.AsgiToWsgi` that ``app`` is, or wraps; else None.

    Follows ``wsgi_app``, ``app`` and ``application`` attributes from one WSGI
    middleware to the next (through at most 16 of them, never in a cycle); the first
    attribute that holds another object is followed. A bound method (Flask's
    own ``wsgi_app``) leads back to its object and ends the search.
    """
    seen: set[int] = set()
    for _ in range(_MAX_WRAPPING_DEPTH + 1):  # the app itself, then 16 layers
        if isinstance(app, AsgiToWsgi):
            return app
        seen.add(id(app))
        for name in _WRAPPED_APP_ATTRIBUTES:
            inner = getattr(app, name, None)
            if inner is not None and id(getattr(inner, "__self__", inner)) not in seen:
                app = inner
                break
        else:
            return None
    return None


_NO_EXTENSIONS: frozenset[str] = frozenset()


def _file_extensions(extensions: Mapping[str, object]) -> frozenset[str]:
    """Which ways to send a file whole the server offers (ASGI extensions)."""
    return frozenset(name for name in (PATHSEND, ZEROCOPYSEND) if name in extensions)


def _parked_marker_left(out: Channel[Any]) -> bool:
    """Whether a ``_PARK`` marker waits in the closed ``out``: the call is parked.

    Called after ``out`` was closed, so the worker can no longer queue one: a
    marker queued before is found here, a later one fails to queue and the
    worker abandons the call itself. Exactly one side closes the iterable.
    """
    try:
        while True:
            item = out.get_nowait()
            if item is _PARK:
                return True
    except Exception:  # empty and closed
        return False


async def _pump(
    item: Any,
    *,
    out: Channel[Any],
    body: Channel[bytes] | None,
    receive: Receive,
    send: Send,
    tasks: anyio.abc.TaskGroup,
    resume: Callable[[], None],
) -> None:
    """Send what the worker produces until the response ends; raise its failure."""
    receiving = False
    while True:
        if type(item) is list:
            for message in item:
                await send(message)
            if not item or item[-1].get("more_body") is False:
                return  # the last body message, or nothing more after a file
            if not receiving:  # streaming: watch for a disconnect meanwhile
                receiving = True
                tasks.start_soon(_receive_loop, receive, body, out)
        elif item is _PARK:
            resume()  # everything before it was sent: the iterator may go on
        elif item is _DEMAND:
            if not receiving:
                receiving = True
                tasks.start_soon(_receive_loop, receive, body, out)
        else:
            assert type(item) is _Failure
            error, item = item.exc, None
            try:
                if type(error) is ClientDisconnected:
                    raise error  # the worker saw the client leave
                raise _AppError(error)
            finally:
                del error  # no cycle through this frame
        out.task_done()
        item = await out.aget()


async def _preread_body(receive: Receive, length: int, timeout: float | None) -> bytes | None:
    """Receive a declared body of ``length`` bytes (at most ``preread_size``) on the loop.

    None when the client disconnected first. Raises :class:`RequestBodyTimeout`
    when no body message came for ``timeout`` seconds, and the errors of
    :func:`_request_chunk` (A3.8), here straight out of the ASGI call.
    """
    parts: list[bytes] = []
    received = 0
    while True:
        with anyio.move_on_after(timeout) as waiting:
            message = await receive()
        if waiting.cancelled_caught:
            raise RequestBodyTimeout(f"no request body data for {timeout} s")
        chunk = _request_chunk(message)
        if chunk is None:
            return None
        if chunk:
            parts.append(chunk)
            received += len(chunk)
        if received >= length or not message.get("more_body", False):
            # Anything after the declared length is the disconnect watch's to
            # discard, as for a body read lazily.
            return b"".join(parts)


def _preloaded(data: bytes) -> Callable[[], bytes]:
    """A ``fetch`` for :class:`RequestBody` that hands over ``data``, then EOF."""
    pending = [data] if data else []

    def fetch() -> bytes:
        return pending.pop() if pending else b""

    return fetch


def _make_fetch(
    out: Channel[Any],
    body: Channel[bytes],
    timeout: float | None = None,
    stalled: list[str] | None = None,
) -> Callable[[], bytes]:
    """A ``fetch`` for :class:`RequestBody` that asks the loop side for the body.

    Each chunk is waited for at most ``timeout`` seconds (``body_timeout``):
    a client that stalls mid-upload frees this worker thread with
    :class:`RequestBodyTimeout` instead of holding it; the reason goes into
    ``stalled``, so that the request answers 408 whatever the app then does.
    """
    demanded = False

    def fetch() -> bytes:
        nonlocal demanded
        if not demanded:
            demanded = True
            out.put_nowait(_DEMAND)
        try:
            return body.get(timeout)
        except ChannelClosed:
            return b""
        except TimeoutError:
            reason = f"no request body data for {timeout} s"
            # Later reads raise too (a cut upload never looks complete); the
            # loop side discards what may still come.
            body.close(RequestBodyTimeout(reason))
            if stalled is not None:
                stalled.append(reason)
            raise RequestBodyTimeout(reason) from None

    return fetch


def _limited(fetch: Callable[[], bytes], body: Channel[bytes], limit: int) -> Callable[[], bytes]:
    """``fetch`` for a body of unknown length under ``max_body_size``.

    Past ``limit`` bytes the body channel is closed (the loop side discards the
    rest) and this read and every later one raise :class:`RequestBodyTooLarge`.
    """
    received = 0

    def limited_fetch() -> bytes:
        nonlocal received
        if received > limit:
            raise body_grew_too_large(limit)
        chunk = fetch()
        received += len(chunk)
        if received > limit:
            body.close()
            raise body_grew_too_large(limit)
        return chunk

    return limited_fetch


WSGIMiddleware = WsgiToAsgi
