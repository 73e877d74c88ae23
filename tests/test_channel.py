"""bridge._channel: the bounded thread <-> loop channel, under asyncio and trio.

Every wait here is bounded: ``anyio.fail_after`` on the loop side, ``timeout=`` on the
blocking side, and every thread started by a test is joined with a timeout.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import anyio
import anyio.to_thread
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge import ClientDisconnected
from bridge._channel import Channel, ChannelClosed, LoopHandle

WAIT = 10.0  # upper bound for any single wait; never reached when the code works


def start_thread(target: Callable[[], None]) -> threading.Thread:
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread


async def join_thread(thread: threading.Thread) -> None:
    await anyio.to_thread.run_sync(thread.join, WAIT)
    assert not thread.is_alive(), "thread did not finish in time"


def count_wakes(handle: LoopHandle) -> list[tuple[Any, ...]]:
    """Record every cross-thread wake the handle schedules on its loop."""
    calls: list[tuple[Any, ...]] = []
    original = handle.call_soon_threadsafe

    def counting(*args: Any) -> Any:
        calls.append(args)
        return original(*args)

    handle.call_soon_threadsafe = counting
    return calls


# ---------------------------------------------------------------- delivery in order


@pytest.mark.anyio
@pytest.mark.parametrize(("count", "capacity"), [(0, 1), (1, 1), (500, 1), (500, 3), (50, 64)])
async def test_thread_producer_async_consumer(count: int, capacity: int) -> None:
    channel: Channel[int] = Channel(LoopHandle(), capacity)
    errors: list[BaseException] = []

    def produce() -> None:
        try:
            for i in range(count):
                channel.put(i, timeout=WAIT)
            channel.close()
        except BaseException as error:
            errors.append(error)

    thread = start_thread(produce)
    got: list[int] = []
    with anyio.fail_after(WAIT):
        while True:
            try:
                item = await channel.aget()
            except ChannelClosed:
                break
            got.append(item)
            channel.task_done()
    await join_thread(thread)
    assert errors == []
    assert got == list(range(count))
    assert channel.peak <= capacity


@pytest.mark.anyio
@pytest.mark.parametrize(("count", "capacity"), [(0, 1), (1, 1), (500, 1), (500, 3), (50, 64)])
async def test_async_producer_thread_consumer(count: int, capacity: int) -> None:
    channel: Channel[int] = Channel(LoopHandle(), capacity)
    got: list[int] = []
    errors: list[BaseException] = []

    def consume() -> None:
        try:
            while True:
                try:
                    item = channel.get(timeout=WAIT)
                except ChannelClosed:
                    return
                got.append(item)
                channel.task_done()
        except BaseException as error:
            errors.append(error)

    thread = start_thread(consume)
    with anyio.fail_after(WAIT):
        for i in range(count):
            await channel.aput(i)
        channel.close()
    await join_thread(thread)
    assert errors == []
    assert got == list(range(count))
    assert channel.peak <= capacity


async def _slow_async_consumer(channel: Channel[int], count: int, capacity: int) -> list[int]:
    got: list[int] = []
    with anyio.fail_after(WAIT):
        for _ in range(count):
            item = await channel.aget()
            assert len(channel) <= capacity
            got.append(item)
            channel.task_done()
            for _ in range(3):  # be slow: let the producer run ahead if it can
                await anyio.lowlevel.checkpoint()
    return got


@pytest.mark.anyio
@pytest.mark.parametrize("capacity", [1, 4, 16])
async def test_bound_holds_with_slow_consumer(capacity: int) -> None:
    channel: Channel[int] = Channel(LoopHandle(), capacity)
    count = 1000
    errors: list[BaseException] = []

    def produce() -> None:
        try:
            channel.put_many(range(count), timeout=WAIT)
        except BaseException as error:
            errors.append(error)

    thread = start_thread(produce)
    got = await _slow_async_consumer(channel, count, capacity)
    await join_thread(thread)
    assert errors == []
    assert got == list(range(count))
    assert 1 <= channel.peak <= capacity
    assert len(channel) == 0


@pytest.mark.anyio
@pytest.mark.parametrize("capacity", [1, 4])
async def test_bound_holds_with_slow_thread_consumer(capacity: int) -> None:
    channel: Channel[int] = Channel(LoopHandle(), capacity)
    count = 1000
    got: list[int] = []
    over: list[int] = []

    def consume() -> None:
        for _ in range(count):
            if len(channel) > capacity:
                over.append(len(channel))
            got.append(channel.get(timeout=WAIT))
            channel.task_done()

    thread = start_thread(consume)
    with anyio.fail_after(WAIT):
        for i in range(count):
            await channel.aput(i)
            assert len(channel) <= capacity
    await join_thread(thread)
    assert over == []
    assert got == list(range(count))
    assert 1 <= channel.peak <= capacity


# ---------------------------------------------------------------- put_many


@pytest.mark.anyio
async def test_put_many_wakes_once_and_delivers_all() -> None:
    handle = LoopHandle()
    wakes = count_wakes(handle)
    channel: Channel[int] = Channel(handle, 8)
    first: list[int] = []

    async def consumer() -> None:
        first.append(await channel.aget())

    with anyio.fail_after(WAIT):
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(consumer)
            await anyio.wait_all_tasks_blocked()  # the consumer is parked on an empty channel
            await anyio.to_thread.run_sync(channel.put_many, [1, 2, 3, 4, 5])
    assert len(wakes) == 1
    rest = [await channel.aget() for _ in range(4)]
    assert first + rest == [1, 2, 3, 4, 5]
    assert len(wakes) == 1


@pytest.mark.anyio
async def test_put_many_larger_than_capacity() -> None:
    channel: Channel[int] = Channel(LoopHandle(), 2)
    thread = start_thread(lambda: channel.put_many(range(100), timeout=WAIT))
    with anyio.fail_after(WAIT):
        got = [await channel.aget() for _ in range(100)]
    await join_thread(thread)
    assert got == list(range(100))
    assert channel.peak <= 2


# ---------------------------------------------------------------- join / ajoin


@pytest.mark.anyio
async def test_join_waits_for_task_done() -> None:
    channel: Channel[int] = Channel(LoopHandle(), 4)
    count = 20
    acked: list[int] = []
    acked_at_join: list[int] = []
    errors: list[BaseException] = []

    def produce() -> None:
        try:
            for i in range(count):
                channel.put(i, timeout=WAIT)
            channel.join(timeout=WAIT)
            acked_at_join.append(len(acked))
        except BaseException as error:
            errors.append(error)

    thread = start_thread(produce)
    with anyio.fail_after(WAIT):
        for _ in range(count):
            item = await channel.aget()
            await anyio.lowlevel.checkpoint()
            acked.append(item)
            channel.task_done()
    await join_thread(thread)
    assert errors == []
    assert acked_at_join == [count]


@pytest.mark.anyio
async def test_ajoin_waits_for_task_done() -> None:
    channel: Channel[int] = Channel(LoopHandle(), 4)
    got_item = threading.Event()
    release = threading.Event()
    acked: list[int] = []
    joined: list[bool] = []

    def consume() -> None:
        item = channel.get(timeout=WAIT)
        got_item.set()
        release.wait(WAIT)
        acked.append(item)
        channel.task_done()

    thread = start_thread(consume)

    async def joiner() -> None:
        await channel.ajoin()
        joined.append(True)

    with anyio.fail_after(WAIT):
        async with anyio.create_task_group() as tasks:
            await channel.aput(7)
            tasks.start_soon(joiner)
            assert await anyio.to_thread.run_sync(got_item.wait, WAIT)
            await anyio.wait_all_tasks_blocked()
            assert joined == []  # taken but not acknowledged yet: ajoin still waits
            release.set()
    await join_thread(thread)
    assert joined == [True]
    assert acked == [7]


@pytest.mark.anyio
async def test_join_returns_at_once_when_nothing_pending() -> None:
    channel: Channel[int] = Channel(LoopHandle(), 2)
    channel.join(timeout=0)
    with anyio.fail_after(WAIT):
        await channel.ajoin()
        channel.put_nowait(1)
        assert await channel.aget() == 1
        channel.task_done()
        await channel.ajoin()
    channel.join(timeout=0)


# ---------------------------------------------------------------- close


@pytest.mark.anyio
async def test_close_wakes_blocked_thread_get() -> None:
    channel: Channel[int] = Channel(LoopHandle(), 1)
    started = threading.Event()
    outcome: list[BaseException] = []

    def consume() -> None:
        started.set()
        try:
            channel.get(timeout=WAIT)
        except BaseException as error:
            outcome.append(error)

    thread = start_thread(consume)
    assert await anyio.to_thread.run_sync(started.wait, WAIT)
    error = ClientDisconnected("client went away")
    channel.close(error)
    await join_thread(thread)
    assert len(outcome) == 1
    # A fresh copy of the error, chained to it (no traceback cycle through the channel).
    assert type(outcome[0]) is ClientDisconnected and outcome[0].__cause__ is error


@pytest.mark.anyio
@pytest.mark.parametrize("from_thread", [False, True])
async def test_close_wakes_blocked_async_get(from_thread: bool) -> None:
    channel: Channel[int] = Channel(LoopHandle(), 1)
    outcome: list[BaseException] = []
    error = RuntimeError("boom")

    async def consume() -> None:
        try:
            await channel.aget()
        except RuntimeError as exc:
            outcome.append(exc)

    with anyio.fail_after(WAIT):
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(consume)
            await anyio.wait_all_tasks_blocked()
            if from_thread:
                await anyio.to_thread.run_sync(channel.close, error)
            else:
                channel.close(error)
    assert len(outcome) == 1 and str(outcome[0]) == "boom"
    assert type(outcome[0]) is RuntimeError and outcome[0].__cause__ is error


@pytest.mark.anyio
async def test_close_wakes_blocked_thread_put_and_join() -> None:
    channel: Channel[int] = Channel(LoopHandle(), 1)
    channel.put_nowait(0)
    started = threading.Event()
    outcome: list[BaseException] = []

    def produce() -> None:
        started.set()
        try:
            channel.put(1, timeout=WAIT)
        except BaseException as error:
            outcome.append(error)
        try:
            channel.join(timeout=WAIT)
        except BaseException as error:
            outcome.append(error)

    thread = start_thread(produce)
    assert await anyio.to_thread.run_sync(started.wait, WAIT)
    error = ClientDisconnected("gone")
    channel.close(error)
    await join_thread(thread)
    assert [e.__cause__ for e in outcome] == [error, error]  # fresh copies of it


@pytest.mark.anyio
async def test_close_wakes_blocked_async_put() -> None:
    channel: Channel[int] = Channel(LoopHandle(), 1)
    await channel.aput(0)
    outcome: list[BaseException] = []
    error = ClientDisconnected("gone")

    async def produce() -> None:
        try:
            await channel.aput(1)
        except ClientDisconnected as exc:
            outcome.append(exc)

    with anyio.fail_after(WAIT):
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(produce)
            await anyio.wait_all_tasks_blocked()
            await anyio.to_thread.run_sync(channel.close, error)
    assert [e.__cause__ for e in outcome] == [error]


@pytest.mark.anyio
async def test_items_queued_before_close_are_delivered() -> None:
    channel: Channel[int] = Channel(LoopHandle(), 4)
    channel.put(1, timeout=WAIT)
    channel.put(2, timeout=WAIT)
    channel.put_nowait(3)
    error = ClientDisconnected("gone")
    channel.close(error)
    channel.close(RuntimeError("second close is ignored"))
    assert channel.closed
    assert channel.get(timeout=WAIT) == 1
    with anyio.fail_after(WAIT):
        assert await channel.aget() == 2
    assert channel.get_nowait() == 3
    with pytest.raises(ClientDisconnected) as info:
        channel.get(timeout=WAIT)
    assert info.value.__cause__ is error and info.value.__traceback__ is not None
    assert error.__traceback__ is None  # the stored error is never raised itself
    with anyio.fail_after(WAIT), pytest.raises(ClientDisconnected):
        await channel.aget()
    with pytest.raises(ClientDisconnected):
        channel.get_nowait()
    with pytest.raises(ClientDisconnected):
        channel.put(4, timeout=WAIT)
    with pytest.raises(ClientDisconnected):
        channel.put_nowait(4)
    with anyio.fail_after(WAIT), pytest.raises(ClientDisconnected):
        await channel.aput(4)


@pytest.mark.anyio
async def test_close_without_error_raises_channel_closed() -> None:
    channel: Channel[int] = Channel(LoopHandle(), 1)
    channel.put_nowait(1)
    channel.close()
    assert channel.get(timeout=WAIT) == 1
    with pytest.raises(ChannelClosed):
        channel.get(timeout=WAIT)
    with anyio.fail_after(WAIT), pytest.raises(ChannelClosed):
        await channel.aget()


# ---------------------------------------------------------------- timeouts


@pytest.mark.anyio
async def test_get_timeout_raises_and_channel_stays_usable() -> None:
    channel: Channel[int] = Channel(LoopHandle(), 1)
    with pytest.raises(TimeoutError):
        channel.get(timeout=0.01)
    assert channel.get_nowait() is None
    channel.put(5, timeout=WAIT)
    assert channel.get(timeout=WAIT) == 5


@pytest.mark.anyio
async def test_put_and_join_timeouts() -> None:
    channel: Channel[int] = Channel(LoopHandle(), 1)
    channel.put(1, timeout=WAIT)
    with pytest.raises(TimeoutError):
        channel.put(2, timeout=0.01)
    with pytest.raises(TimeoutError):
        channel.join(timeout=0.01)
    assert channel.get(timeout=WAIT) == 1
    channel.task_done()
    channel.join(timeout=WAIT)
    channel.put(3, timeout=WAIT)
    assert channel.get(timeout=WAIT) == 3
    assert len(channel) == 0


# ---------------------------------------------------------------- cancellation


@pytest.mark.anyio
async def test_cancelled_aget_leaves_channel_usable() -> None:
    channel: Channel[str] = Channel(LoopHandle(), 1)
    with anyio.move_on_after(0.01) as scope:
        await channel.aget()
    assert scope.cancelled_caught
    await anyio.to_thread.run_sync(lambda: channel.put("x", timeout=WAIT))
    with anyio.fail_after(WAIT):
        assert await channel.aget() == "x"

    # And a consumer parked after the cancellation is still woken by a thread.
    got: list[str] = []

    async def consume() -> None:
        got.append(await channel.aget())

    with anyio.fail_after(WAIT):
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(consume)
            await anyio.wait_all_tasks_blocked()
            await anyio.to_thread.run_sync(lambda: channel.put("y", timeout=WAIT))
    assert got == ["y"]


@pytest.mark.anyio
async def test_cancelled_aput_leaves_channel_usable() -> None:
    channel: Channel[int] = Channel(LoopHandle(), 1)
    await channel.aput(1)
    with anyio.fail_after(WAIT):
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(channel.aput, 2)
            await anyio.wait_all_tasks_blocked()
            tasks.cancel_scope.cancel()
    assert len(channel) == 1
    assert await anyio.to_thread.run_sync(lambda: channel.get(timeout=WAIT)) == 1
    with anyio.fail_after(WAIT):
        await channel.aput(3)
    assert channel.get(timeout=WAIT) == 3


@pytest.mark.anyio
async def test_cancelled_ajoin_leaves_channel_usable() -> None:
    channel: Channel[int] = Channel(LoopHandle(), 1)
    await channel.aput(1)
    with anyio.move_on_after(0.01) as scope:
        await channel.ajoin()
    assert scope.cancelled_caught
    assert channel.get(timeout=WAIT) == 1
    await anyio.to_thread.run_sync(channel.task_done)
    with anyio.fail_after(WAIT):
        await channel.ajoin()


# ---------------------------------------------------------------- property


async def _round_trip(count: int, capacity: int, thread_produces: bool) -> tuple[list[int], int]:
    channel: Channel[int] = Channel(LoopHandle(), capacity)
    got: list[int] = []
    errors: list[BaseException] = []
    if thread_produces:

        def produce() -> None:
            try:
                channel.put_many(range(count), timeout=WAIT)
                channel.close()
            except BaseException as error:
                errors.append(error)

        thread = start_thread(produce)
        with anyio.fail_after(WAIT):
            while True:
                try:
                    got.append(await channel.aget())
                except ChannelClosed:
                    break
    else:

        def consume() -> None:
            try:
                while True:
                    got.append(channel.get(timeout=WAIT))
                    channel.task_done()
            except ChannelClosed:
                return
            except BaseException as error:
                errors.append(error)

        thread = start_thread(consume)
        with anyio.fail_after(WAIT):
            for i in range(count):
                await channel.aput(i)
            await channel.ajoin()
            channel.close()
    await join_thread(thread)
    assert errors == []
    return got, channel.peak


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@settings(max_examples=25)
@given(
    count=st.integers(0, 200),
    capacity=st.integers(1, 8),
    thread_produces=st.booleans(),
)
def test_property_everything_delivered_in_order(
    backend: str, count: int, capacity: int, thread_produces: bool
) -> None:
    got, peak = anyio.run(_round_trip, count, capacity, thread_produces, backend=backend)
    assert got == list(range(count))
    assert peak <= capacity


# ---------------------------------------------------------------- take = get + task_done


@pytest.mark.anyio
async def test_take_acknowledges_each_item_with_one_wake() -> None:
    """``take`` frees a producer waiting in ``ajoin`` with a single cross-thread wake."""
    channel: Channel[int] = Channel(LoopHandle(), 1)
    wakes = count_wakes(channel._handle)
    count = 30
    taken: list[int] = []
    errors: list[BaseException] = []

    def consume() -> None:
        try:
            for _ in range(count):
                taken.append(channel.take(timeout=WAIT))
        except BaseException as error:
            errors.append(error)

    thread = start_thread(consume)
    with anyio.fail_after(WAIT):
        for i in range(count):
            channel.put_nowait(i)
            await channel.ajoin()  # returns only once the thread took and acknowledged i
            assert len(channel) == 0
    await join_thread(thread)
    assert errors == []
    assert taken == list(range(count))
    assert len(wakes) <= count


@pytest.mark.anyio
async def test_take_raises_once_closed_and_drained() -> None:
    channel: Channel[int] = Channel(LoopHandle(), 2)
    channel.put_nowait(1)
    channel.close(ClientDisconnected("gone"))
    assert channel.take(timeout=WAIT) == 1
    with pytest.raises(ClientDisconnected):
        channel.take(timeout=WAIT)


async def _until(condition: Callable[[], bool]) -> None:
    """Poll ``condition`` on the loop, bounded by ``WAIT``."""
    with anyio.fail_after(WAIT):
        while not condition():
            await anyio.sleep(0.001)


@pytest.mark.anyio
async def test_put_nowait_says_whether_a_waiting_consumer_took_the_item() -> None:
    """True only when the consumer was already blocked on an empty channel."""
    channel: Channel[int] = Channel(LoopHandle(), 1)
    taken: list[int] = []

    def consume_one() -> None:
        taken.append(channel.take(timeout=WAIT))

    # Nobody waiting: the item is queued, not handed over.
    assert channel.put_nowait(1) is False
    assert channel.take(timeout=WAIT) == 1

    thread = start_thread(consume_one)
    await _until(lambda: channel._t_consumer is not None)  # the thread blocks in take()
    assert channel.put_nowait(2) is True
    await join_thread(thread)
    assert taken == [2]


@pytest.mark.anyio
async def test_taking_one_of_two_unacknowledged_items_does_not_wake_a_joining_producer() -> None:
    """A producer in ``ajoin`` is woken once, when nothing is left unacknowledged.

    Waking it after the first of two items would only make it wait again: one
    wasted loop round trip per item on the stream hot path.
    """
    channel: Channel[int] = Channel(LoopHandle(), 1)
    wakes = count_wakes(channel._handle)
    channel.put_nowait(1)
    channel.put_nowait(2)  # over capacity on purpose: put_nowait ignores the bound
    joined = False

    async def join() -> None:
        nonlocal joined
        await channel.ajoin()
        joined = True

    async with anyio.create_task_group() as group:
        group.start_soon(join)
        await _until(lambda: channel._a_producer is not None)
        got = await anyio.to_thread.run_sync(channel.take, WAIT)
        assert got == 1
        assert wakes == [] and not joined
        got = await anyio.to_thread.run_sync(channel.take, WAIT)
        assert got == 2
        await _until(lambda: joined)
    assert len(wakes) == 1
