"""``wsgi.input``: a blocking, file-like reader over chunks that arrive one by one.

Theory of operation
-------------------
:class:`RequestBody` knows nothing about ASGI: it is given a ``fetch`` callable
that blocks until the next chunk of the body is there and returns it, returns
``b""`` at the end of the body, or raises
:class:`~bridge._errors.ClientDisconnected` when the body will never be
complete. :class:`bridge.WsgiToAsgi` builds ``fetch`` on top of its receive
channel; tests drive the reader with plain lists of chunks.

It keeps one ``bytearray`` of data fetched but not yet read, so that
``readline(n)`` can cross chunk boundaries and never returns ``b""`` while data
remains. A declared Content-Length acts as EOF. Nothing is fetched before the
app asks for it (so a server that implements ``100-continue`` only sends it
when the app reads).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator


class RequestBody:
    """The ``wsgi.input`` stream of one request (PEP 3333 "Input and Error Streams")."""

    __slots__ = ("_buffer", "_eof", "_fetch", "_remaining")

    def __init__(self, fetch: Callable[[], bytes] | None, length: int | None = None) -> None:
        self._fetch = fetch
        self._buffer = bytearray()
        self._remaining = length
        self._eof = fetch is None or length == 0

    def _next_chunk(self) -> bytes:
        """The next chunk of the body, cut at a declared length; ``b""`` at the end."""
        if self._eof:
            return b""
        assert self._fetch is not None
        chunk = self._fetch()
        if not chunk:
            self._eof = True
            return b""
        remaining = self._remaining
        if remaining is not None:
            if len(chunk) >= remaining:
                chunk = chunk[:remaining]
                self._eof = True
            self._remaining = remaining - len(chunk)
        return chunk

    def _fill(self) -> bool:
        """Append the next chunk to the buffer; False at the end of the body."""
        chunk = self._next_chunk()
        if not chunk:
            return False
        self._buffer += chunk
        return True

    def read(self, size: int | None = -1) -> bytes:
        buffer = self._buffer
        if size is None or size < 0:
            while self._fill():
                pass
            data = bytes(buffer)
            buffer.clear()
            return data
        if not buffer and size > 0:
            # The common streaming read (nothing buffered): a chunk of exactly
            # the size asked for, or the last one, goes to the app as it came,
            # without a copy.
            chunk = self._next_chunk()
            if type(chunk) is bytes and (len(chunk) == size or (self._eof and len(chunk) < size)):
                return chunk
            buffer += chunk
        while len(buffer) < size and self._fill():
            pass
        with memoryview(buffer) as view:
            data = bytes(view[:size])
        del buffer[:size]
        return data

    def readline(self, size: int | None = -1) -> bytes:
        buffer = self._buffer
        limit = -1 if size is None else size
        start = 0
        while True:
            newline = buffer.find(b"\n", start)
            if newline != -1:
                end = newline + 1
                break
            if 0 <= limit <= len(buffer):
                end = limit
                break
            start = len(buffer)
            if not self._fill():
                end = len(buffer)
                break
        if 0 <= limit < end:
            end = limit
        data = bytes(buffer[:end])
        del buffer[:end]
        return data

    def readlines(self, hint: int | None = -1) -> list[bytes]:
        lines: list[bytes] = []
        total = 0
        while True:
            line = self.readline()
            if not line:
                return lines
            lines.append(line)
            total += len(line)
            if hint is not None and 0 < hint <= total:
                return lines

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        line = self.readline()
        if not line:
            raise StopIteration
        return line

    def close(self) -> None:
        """Accepted for file-likeness; the bridge decides when the body is done."""
