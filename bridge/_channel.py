"""The one blocking <-> async channel both directions use.

Theory of operation
-------------------
A bridge always has one side that blocks (a WSGI thread) and one side that
awaits (a task on an event loop). :class:`Channel` is a bounded FIFO between
exactly one producer and one consumer, where each of them may be either side:

* ``put`` / ``get`` are the blocking methods, for a thread;
* ``aput`` / ``aget`` are the awaiting methods, for a task on the loop that
  created the :class:`LoopHandle`.

It is also a tiny ``queue.Queue``: the consumer acknowledges each item with
``task_done()`` and the producer may wait for ``join()`` / ``ajoin()``. That is
how "``write()`` returns after its ``send`` completed" and "``send`` returns
after the WSGI server took the chunk" are expressed.

Costs are what the bridges are measured by, so the rules are:

* every state change happens under one ``threading.Lock`` held for a few
  bytecodes, never across a wait;
* a side is woken only when it is actually waiting (an empty channel for the
  consumer, a full or unjoined one for the producer); a thread is woken by
  releasing a lock it blocks on, a task by resolving a future through the
  loop's ``call_soon_threadsafe`` (trio: ``run_sync_soon``);
* ``put_many`` hands several items over with one wake-up.

A channel may also be bounded in bytes (``max_bytes``): a ``put`` with a
``size`` then waits until the bytes queued plus its own fit, or nothing is
queued (an item larger than the bound still goes, alone). A consumer's take
frees an item's bytes. This is how a response's run-ahead stays within a byte
budget whatever its chunk sizes; a ``put`` with a ``timeout`` lets a producer
give up waiting and do something else (``TimeoutError``, nothing queued).

``close(exc)`` ends the channel from either side: items already queued are
still delivered to the consumer, then every wait (present or future) raises
``exc``; a producer's next put raises at once. This is how a disconnect, a
cancellation or a crash on one side frees the other: nothing waits forever on a
closed channel.

What does not live here: anything that knows about WSGI or ASGI messages.
"""

from __future__ import annotations

import asyncio
import copy
import threading
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from functools import partial
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class ChannelClosed(Exception):
    """The channel was closed without an error of its own."""


class _AsyncioWaiter:
    __slots__ = ("_future",)

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._future: asyncio.Future[None] = loop.create_future()

    def wake(self) -> None:
        if not self._future.done():
            self._future.set_result(None)

    def wait(self) -> Awaitable[None]:
        return self._future  # the future itself: no coroutine frame per wait


class _TrioWaiter:
    __slots__ = ("_event",)

    def __init__(self) -> None:
        import trio  # noqa: PLC0415 - trio is optional; only imported under trio

        self._event = trio.Event()

    def wake(self) -> None:
        self._event.set()

    def wait(self) -> Awaitable[None]:
        return self._event.wait()


class LoopHandle:
    """What a thread needs to wake a task on one event loop (asyncio or trio).

    Create it on the loop's own thread (inside a running task).
    """

    __slots__ = ("_loop", "_token", "call_soon_threadsafe", "thread_id")

    def __init__(self) -> None:
        self.thread_id = threading.get_ident()
        loop = asyncio._get_running_loop()
        self._loop = loop
        self._token: Any = None
        if loop is not None:
            self.call_soon_threadsafe: Callable[..., Any] = loop.call_soon_threadsafe
        else:
            import trio  # noqa: PLC0415 - trio is optional; only imported under trio

            self._token = trio.lowlevel.current_trio_token()
            self.call_soon_threadsafe = self._token.run_sync_soon

    @classmethod
    def for_loop(cls, loop: asyncio.AbstractEventLoop, thread_id: int) -> LoopHandle:
        """A handle for an asyncio loop running in another thread."""
        handle = cls.__new__(cls)
        handle.thread_id = thread_id
        handle._loop = loop
        handle._token = None
        handle.call_soon_threadsafe = loop.call_soon_threadsafe
        return handle

    @property
    def is_asyncio(self) -> bool:
        return self._loop is not None

    def new_waiter(self) -> _AsyncioWaiter | _TrioWaiter:
        if self._loop is not None:
            return _AsyncioWaiter(self._loop)
        return _TrioWaiter()

    def waker(self, waiter: _AsyncioWaiter | _TrioWaiter) -> Callable[[], None]:
        """What wakes ``waiter`` when called on this same thread (loop or not)."""
        if threading.get_ident() == self.thread_id:
            return waiter.wake
        return partial(self.call_soon_threadsafe, waiter.wake)


class Channel(Generic[T]):
    """Bounded single-producer, single-consumer FIFO between a thread and a loop."""

    __slots__ = (
        "_a_consumer",
        "_a_producer",
        "_byte_limit",
        "_bytes",
        "_error",
        "_handle",
        "_items",
        "_lock",
        "_sizes",
        "_t_consumer",
        "_t_producer",
        "_unfinished",
        "capacity",
        "max_bytes",
        "peak",
        "peak_bytes",
    )

    def __init__(self, handle: LoopHandle, capacity: int = 1, max_bytes: int | None = None) -> None:
        if capacity < 1:
            raise ValueError("channel capacity must be at least 1")
        if max_bytes is not None and max_bytes < 1:
            raise ValueError("channel max_bytes must be at least 1")
        self._handle = handle
        self.capacity = capacity
        self.max_bytes = max_bytes
        self._items: deque[T] = deque()
        # With a byte bound, each queued item's size, in the items' order.
        self._sizes: deque[int] | None = deque() if max_bytes is not None else None
        self._bytes = 0
        self._byte_limit = max_bytes or 0
        self._lock = threading.Lock()
        self._unfinished = 0
        self._error: BaseException | None = None
        # At most one waiter per side (single producer, single consumer).
        self._t_consumer: threading.Lock | None = None
        self._t_producer: threading.Lock | None = None
        self._a_consumer: _AsyncioWaiter | _TrioWaiter | None = None
        self._a_producer: _AsyncioWaiter | _TrioWaiter | None = None
        #: The most items (and bytes) ever queued at once (tests check the bounds hold).
        self.peak = 0
        self.peak_bytes = 0

    # -- shared internals -------------------------------------------------
    def _wake_consumer_locked(self) -> Callable[[], None] | None:
        if self._t_consumer is not None:
            lock, self._t_consumer = self._t_consumer, None
            return lock.release
        if self._a_consumer is not None:
            waiter, self._a_consumer = self._a_consumer, None
            return self._handle.waker(waiter)
        return None

    def _wake_producer_locked(self) -> Callable[[], None] | None:
        if self._t_producer is not None:
            lock, self._t_producer = self._t_producer, None
            return lock.release
        if self._a_producer is not None:
            waiter, self._a_producer = self._a_producer, None
            return self._handle.waker(waiter)
        return None

    def _block(
        self, waiter: threading.Lock, timeout: float | None, *, producer: bool, what: str
    ) -> None:
        """Wait on a thread-side ``waiter`` (held once already) until woken or ``timeout``."""
        if waiter.acquire(timeout=-1 if timeout is None else timeout):
            return
        # Timed out: forget the waiter so nobody releases a lock nobody waits on.
        with self._lock:
            if producer and self._t_producer is waiter:
                self._t_producer = None
            elif not producer and self._t_consumer is waiter:
                self._t_consumer = None
        raise TimeoutError(f"timed out waiting for {what}")

    def bound_bytes(self, max_bytes: int) -> None:
        """Bound the channel in bytes from now on (a channel made without ``max_bytes``).

        Items already queued count as size 0. A producer that only sometimes
        needs the bound turns it on when it does: until then the channel keeps
        no sizes at all.
        """
        if max_bytes < 1:
            raise ValueError("channel max_bytes must be at least 1")
        with self._lock:
            if self._sizes is None:
                self._sizes = deque([0] * len(self._items))
            self.max_bytes = self._byte_limit = max_bytes

    def _has_room_locked(self, size: int) -> bool:
        if len(self._items) >= self.capacity:
            return False
        return self._sizes is None or not self._items or self._bytes + size <= self._byte_limit

    def _append_locked(self, item: T, size: int, *, bounded: bool = True) -> None:
        self._items.append(item)
        self._unfinished += 1
        if bounded:  # control items (put_nowait) ignore the bound and the peak
            self.peak = max(self.peak, len(self._items))
        if self._sizes is not None:
            self._sizes.append(size)
            self._bytes += size
            self.peak_bytes = max(self.peak_bytes, self._bytes)

    def _popleft_locked(self) -> T:
        if self._sizes is not None:
            self._bytes -= self._sizes.popleft()
        return self._items.popleft()

    def _raise_closed(self) -> None:
        error = self._error
        assert error is not None
        # A fresh copy for every waiter, chained to the stored error: the stored
        # one never gets a traceback, so the frames that saw the error do not form
        # a reference cycle with this channel (which would keep the request's
        # buffers alive until the cyclic GC ran) and raises do not pile up frames.
        try:
            fresh = copy.copy(error)
        except Exception:
            raise error from None
        try:
            raise fresh from error
        finally:
            del fresh  # this frame is in its traceback: no cycle through the local

    @property
    def closed(self) -> bool:
        return self._error is not None

    def __len__(self) -> int:
        return len(self._items)

    def close(self, error: BaseException | None = None) -> None:
        """Close from either side; every present and future wait raises ``error``."""
        with self._lock:
            if self._error is not None:
                return
            self._error = error if error is not None else ChannelClosed()
            wakes = (self._wake_consumer_locked(), self._wake_producer_locked())
        for wake in wakes:
            if wake is not None:
                wake()

    # -- producer, blocking -----------------------------------------------
    def put(self, item: T, timeout: float | None = None, size: int = 0) -> None:
        """Queue ``item`` of ``size`` bytes, blocking while there is no room.

        Raises ``TimeoutError`` (with nothing queued) after ``timeout`` seconds.
        """
        self.put_many((item,), timeout, size)

    def put_many(self, items: Iterable[T], timeout: float | None = None, size: int = 0) -> None:
        """Queue items (blocking while the channel is full), waking the consumer once."""
        for item in items:
            while True:
                with self._lock:
                    if self._error is not None:
                        self._raise_closed()
                    queued = self._items
                    sizes = self._sizes
                    # _has_room_locked and _append_locked, inlined: the hot path.
                    if len(queued) < self.capacity and (
                        sizes is None or not queued or self._bytes + size <= self._byte_limit
                    ):
                        queued.append(item)
                        self._unfinished += 1
                        if len(queued) > self.peak:  # noqa: PLR1730 - no call on the hot path
                            self.peak = len(queued)
                        if sizes is not None:
                            sizes.append(size)
                            self._bytes += size
                            if self._bytes > self.peak_bytes:  # noqa: PLR1730
                                self.peak_bytes = self._bytes
                        break
                    wake, waiter = self._producer_waiter_locked()
                self._wait_for_room(wake, waiter, timeout)
        with self._lock:
            wake = self._wake_consumer_locked()
        if wake is not None:
            wake()

    def wait_for_room(self, timeout: float | None = None, size: int | None = 1) -> None:
        """Block until there is room for one more item of ``size`` bytes.

        A producer that checks before it makes its next item holds nothing
        while it waits, and may give up (``TimeoutError``) with nothing in hand.
        ``size=max_bytes`` waits until nothing is queued.
        """
        size = 1 if size is None else size
        while True:
            with self._lock:
                if self._error is not None:
                    self._raise_closed()
                if self._has_room_locked(size):
                    return
                wake, waiter = self._producer_waiter_locked()
            self._wait_for_room(wake, waiter, timeout)

    def _producer_waiter_locked(self) -> tuple[Callable[[], None] | None, threading.Lock]:
        """A full channel: wake the consumer (it may be asleep) and make a lock to wait on."""
        wake = self._wake_consumer_locked()
        waiter = self._t_producer = threading.Lock()
        waiter.acquire()
        return wake, waiter

    def _wait_for_room(
        self, wake: Callable[[], None] | None, waiter: threading.Lock, timeout: float | None
    ) -> None:
        if wake is not None:
            wake()
        self._block(waiter, timeout, producer=True, what="room in the channel")

    def join(self, timeout: float | None = None) -> None:
        """Block until every queued item was acknowledged with ``task_done``."""
        while True:
            with self._lock:
                if self._unfinished == 0:
                    return
                if self._error is not None:
                    self._raise_closed()
                waiter = self._t_producer = threading.Lock()
                waiter.acquire()
            self._block(waiter, timeout, producer=True, what="the consumer")

    # -- consumer, blocking -----------------------------------------------
    def get(self, timeout: float | None = None) -> T:
        """Take the next item, blocking while the channel is empty."""
        return self._pop(timeout, acknowledge=False)

    def take(self, timeout: float | None = None) -> T:
        """``get()`` and ``task_done()`` in one step: one lock, at most one wake-up."""
        return self._pop(timeout, acknowledge=True)

    def _pop(self, timeout: float | None, *, acknowledge: bool) -> T:
        while True:
            with self._lock:
                if self._items:
                    item = self._popleft_locked()
                    if acknowledge:
                        self._unfinished -= 1
                    # Wake a producer only for what it can wait on: room (put)
                    # or nothing unacknowledged (join). A wake that the waiter
                    # would answer by waiting again costs a loop round trip.
                    wake = (
                        self._wake_producer_locked()
                        if self._unfinished == 0
                        or len(self._items) < self.capacity
                        or self._sizes is not None
                        else None
                    )
                    break
                if self._error is not None:
                    self._raise_closed()
                waiter = self._t_consumer = threading.Lock()
                waiter.acquire()
            self._block(waiter, timeout, producer=False, what="the other side of the bridge")
        if wake is not None:
            wake()
        return item

    def task_done(self) -> None:
        with self._lock:
            self._unfinished -= 1
            wake = self._wake_producer_locked() if self._unfinished == 0 else None
        if wake is not None:
            wake()

    def get_nowait(self) -> T | None:
        """The next item, or None when the channel is empty (never waits)."""
        with self._lock:
            if not self._items:
                if self._error is not None:
                    self._raise_closed()
                return None
            item = self._popleft_locked()
            wake = self._wake_producer_locked()
        if wake is not None:
            wake()
        return item

    # -- producer, async --------------------------------------------------
    def put_nowait(self, item: T) -> bool:
        """Queue an item without waiting (ignores the bound: for control items).

        Returns True when the consumer was already waiting for an item, so this
        one goes straight to it: it is as good as taken.
        """
        with self._lock:
            if self._error is not None:
                self._raise_closed()
            self._append_locked(item, 0, bounded=False)
            # A consumer waits only on an empty channel: this item is the one
            # it gets.
            wake = self._wake_consumer_locked()
        if wake is None:
            return False
        wake()
        return True

    async def aput(self, item: T) -> None:
        while True:
            with self._lock:
                if self._error is not None:
                    self._raise_closed()
                if len(self._items) < self.capacity:
                    self._append_locked(item, 0)
                    wake = self._wake_consumer_locked()
                    break
                waiter = self._a_producer = self._handle.new_waiter()
            await self._await(waiter, producer=True)
        if wake is not None:
            wake()

    async def ajoin(self) -> None:
        """Wait until every queued item was acknowledged with ``task_done``."""
        while True:
            with self._lock:
                if self._unfinished == 0:
                    return
                if self._error is not None:
                    self._raise_closed()
                waiter = self._a_producer = self._handle.new_waiter()
            await self._await(waiter, producer=True)

    # -- consumer, async --------------------------------------------------
    async def aget(self) -> T:
        while True:
            with self._lock:
                if self._items:
                    item = self._items.popleft()
                    if self._sizes is not None:
                        self._bytes -= self._sizes.popleft()
                    wake = self._wake_producer_locked()
                    break
                if self._error is not None:
                    self._raise_closed()
                waiter = self._a_consumer = self._handle.new_waiter()
            await self._await(waiter, producer=False)
        if wake is not None:
            wake()
        return item

    async def _await(self, waiter: _AsyncioWaiter | _TrioWaiter, *, producer: bool) -> None:
        try:
            await waiter.wait()
        except BaseException:
            # Cancelled: forget the waiter so nobody wakes a dead future.
            with self._lock:
                if producer and self._a_producer is waiter:
                    self._a_producer = None
                elif not producer and self._a_consumer is waiter:
                    self._a_consumer = None
            raise
