"""P6 (issue 4): streaming invariants of both bridges, for any chunking.

* Bytes delivered == bytes produced: the request body the app reads equals the
  body the server received, and the response body the server gets equals what
  the app produced, whatever the split of either into pieces, the app's read
  sizes, ``send_queue_size`` / ``chunk_size`` and how slowly the other side
  takes them.
* Memory held by the channels stays within the configured bound. Every
  :class:`bridge._channel.Channel` the bridge makes during the request is
  recorded; its queue is replaced by a deque that measures, at each append
  (under the channel's lock), how many items and how many payload bytes it
  holds. ``Channel.peak`` (the bridge's own count of bounded puts) is checked
  too. The bounds:

  - WsgiToAsgi ``out``: at most ``send_queue_size`` items, each one response
    chunk (plus the start message), so at most ``send_queue_size`` x the
    largest chunk bytes; ``body``: at most 4 chunks (``_BODY_READ_AHEAD``), each
    at most one ``http.request`` body.
  - AsgiToWsgi ``out``: at most two body chunks and one control item. ``send``
    with ``more_body`` returns once the WSGI server took the chunk; a chunk
    handed to a server already waiting in ``next()`` counts as taken, so it may
    still sit in the queue, unpopped by the woken thread, while the app's next
    chunk waits behind it. ``body``: one read of at most ``chunk_size`` bytes.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Iterator
from typing import Any
from unittest import mock

import anyio
import pytest
from asgi_scope import http_scope
from asgi_validator import AsgiValidator, validating_app
from drivers import PROPERTY_TIMEOUT, PartsInput
from hypothesis import event, example, given
from hypothesis import strategies as st
from strategies import Reader, read_body, readers, split, split_points

import bridge._asgi_to_wsgi
import bridge._wsgi_to_asgi
from bridge import AsgiToWsgi, WsgiToAsgi
from bridge._channel import Channel

pytestmark = pytest.mark.timeout(PROPERTY_TIMEOUT)


def payload(item: Any) -> int:
    """Bytes of body data inside a queued item (batches, tuples, messages)."""
    if isinstance(item, (bytes, bytearray)):
        return len(item)
    if isinstance(item, dict):
        return payload(item.get("body", b""))
    if isinstance(item, (list, tuple)):
        return sum(payload(x) for x in item)
    return 0


class MeasuredDeque(deque[Any]):
    """A channel's queue that records its largest length and payload (append is locked)."""

    def __init__(self) -> None:
        super().__init__()
        self.max_items = 0
        self.max_bytes = 0

    def append(self, item: Any) -> None:
        super().append(item)
        self.max_items = max(self.max_items, len(self))
        self.max_bytes = max(self.max_bytes, sum(payload(x) for x in self))


class Recorder:
    def __init__(self) -> None:
        self.channels: list[Channel[Any]] = []

    def make(self, handle: Any, capacity: int = 1, max_bytes: int | None = None) -> Channel[Any]:
        channel: Channel[Any] = Channel(handle, capacity, max_bytes)
        channel._items = MeasuredDeque()  # type: ignore[misc]
        self.channels.append(channel)
        return channel


def measured(channel: Channel[Any]) -> MeasuredDeque:
    items = channel._items
    assert isinstance(items, MeasuredDeque)
    return items


@st.composite
def payloads(draw: st.DrawFn, max_size: int = 300_000) -> bytes:
    size = draw(st.one_of(st.integers(0, 2000), st.integers(0, max_size)))
    return random.Random(draw(st.integers(0, 2**32 - 1))).randbytes(size)


@st.composite
def pieces(draw: st.DrawFn, data: bytes) -> list[bytes]:
    return split(data, draw(split_points(len(data), max_parts=12)))


# -- WsgiToAsgi ------------------------------------------------------------------------


@given(
    body=payloads(),
    response=payloads(),
    data=st.data(),
    reader=readers.map(lambda r: Reader(r.ops, None)),
    send_queue_size=st.integers(1, 4),
    slow=st.lists(st.integers(0, 3), min_size=1, max_size=8),
    backend=st.sampled_from(["asyncio", "trio"]),
)
@example(  # more pieces than the read-ahead, the app reading a byte or two at a time
    body=b"x" * 50,
    response=b"y" * 50,
    data=None,
    reader=Reader([("read", 1), ("readline", 2)], None),
    send_queue_size=1,
    slow=[3],
    backend="asyncio",
)
def test_p6_wsgi_to_asgi_streams_every_byte_within_the_bound(
    *,
    body: bytes,
    response: bytes,
    data: Any,
    reader: Reader,
    send_queue_size: int,
    slow: list[int],
    backend: str,
) -> None:
    if data is None:
        body_parts = [body[i : i + 5] for i in range(0, len(body), 5)]
        response_parts = [response[i : i + 5] for i in range(0, len(response), 5)]
    else:
        body_parts = data.draw(pieces(body), label="body pieces")
        response_parts = data.draw(pieces(response), label="response pieces")
    got = bytearray()

    def app(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        got.extend(read_body(environ["wsgi.input"], reader, None))  # read() and readline()
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return iter(response_parts)  # a generator-like iterable: streamed, not one batch

    incoming = [
        {"type": "http.request", "body": p, "more_body": i < len(body_parts) - 1}
        for i, p in enumerate(body_parts)
    ]
    scope = http_scope(method="POST", headers=[(b"transfer-encoding", b"chunked")])
    validator = AsgiValidator(scope)
    delivered = bytearray()
    sends = 0

    async def receive() -> dict[str, Any]:
        if incoming:
            return incoming.pop(0)
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        nonlocal sends
        for _ in range(slow[sends % len(slow)]):
            await anyio.sleep(0)  # a slow client lets the app run ahead, up to the bound
        sends += 1
        delivered.extend(message.get("body", b""))

    checked_receive, checked_send = validator.wrap(receive, send)
    recorder = Recorder()

    async def main() -> None:
        with anyio.fail_after(60):
            await WsgiToAsgi(app, workers=1, send_queue_size=send_queue_size)(
                scope, checked_receive, checked_send
            )

    with mock.patch.object(bridge._wsgi_to_asgi, "Channel", recorder.make):
        anyio.run(main, backend=backend)
    validator.finish()

    assert bytes(got) == body
    assert bytes(delivered) == response
    out, *rest = recorder.channels
    largest_chunk = max((len(p) for p in response_parts), default=0)
    event("out channel filled up" if out.peak == send_queue_size else "out channel not full")
    assert out.capacity == send_queue_size
    assert out.peak <= send_queue_size
    assert measured(out).max_items <= send_queue_size + 1  # + a _DEMAND control item
    assert measured(out).max_bytes <= send_queue_size * largest_chunk
    for body_channel in rest:  # present when the request had a body
        largest_piece = max((len(p) for p in body_parts), default=0)
        assert body_channel.peak <= body_channel.capacity == bridge._wsgi_to_asgi._BODY_READ_AHEAD
        assert measured(body_channel).max_bytes <= body_channel.capacity * largest_piece


# -- AsgiToWsgi ------------------------------------------------------------------------


CURRENT: dict[str, Any] = {}


async def dispatch(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """One adapter per chunk_size for the module; each example swaps the app in."""
    await CURRENT["app"](scope, receive, send)


@pytest.fixture(scope="module")
def adapters() -> Iterator[dict[int, AsgiToWsgi]]:
    made: dict[int, AsgiToWsgi] = {}
    yield made
    for adapter in made.values():
        adapter.close()


@given(
    body=payloads(),
    response=payloads(),
    data=st.data(),
    chunk_size=st.sampled_from([1, 7, 1000, 65536]),
    with_length=st.booleans(),
)
def test_p6_asgi_to_wsgi_streams_every_byte_within_the_bound(
    adapters: dict[int, AsgiToWsgi],
    *,
    body: bytes,
    response: bytes,
    data: Any,
    chunk_size: int,
    with_length: bool,
) -> None:
    cap = {1: 400, 7: 5000}.get(chunk_size)  # keep tiny reads cheap: one hop per read
    if cap is not None:
        body, response = body[:cap], response[:cap]
    body_parts = data.draw(pieces(body), label="body pieces")
    response_parts = data.draw(pieces(response), label="response pieces")
    got = bytearray()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            got.extend(message.get("body", b""))
            if message["type"] != "http.request" or not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for part in response_parts:
            await send({"type": "http.response.body", "body": part, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    adapter = adapters.get(chunk_size)
    if adapter is None:
        adapter = adapters[chunk_size] = AsgiToWsgi(
            validating_app(dispatch), lifespan="off", chunk_size=chunk_size
        )
    CURRENT["app"] = app
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "POST",
        "SCRIPT_NAME": "",
        "PATH_INFO": "/",
        "QUERY_STRING": "",
        "SERVER_NAME": "x",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.input": PartsInput(body_parts),
        "wsgi.url_scheme": "http",
    }
    if with_length:
        environ["CONTENT_LENGTH"] = str(len(body))
    else:
        environ["wsgi.input_terminated"] = True
    recorder = Recorder()
    with mock.patch.object(bridge._asgi_to_wsgi, "Channel", recorder.make):
        iterable = adapter(environ, lambda status, headers, exc_info=None: None)
        try:
            delivered = b"".join(iterable)
        finally:
            getattr(iterable, "close", lambda: None)()

    assert bytes(got) == body
    assert delivered == response
    # A request declared empty needs no body channel at all.
    out, *body_channels = recorder.channels
    assert len(body_channels) == (0 if with_length and not body else 1)
    largest = max((len(p) for p in response_parts), default=0)
    event(f"AsgiToWsgi out held {measured(out).max_items} item(s) at most")
    assert measured(out).max_items <= 3
    assert measured(out).max_bytes <= 2 * largest
    for body_channel in body_channels:
        assert measured(body_channel).max_items <= 1
        assert measured(body_channel).max_bytes <= chunk_size
