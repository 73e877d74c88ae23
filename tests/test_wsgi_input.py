"""bridge._wsgi_input.RequestBody: the ``wsgi.input`` stream (checklist A3.1-A3.5, A3.6, A3.7)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge import ClientDisconnected
from bridge._wsgi_input import RequestBody


class Chunks:
    """A ``fetch`` over a list of chunks: ``b""`` at the end, or a disconnect."""

    def __init__(
        self,
        chunks: list[bytes],
        *,
        disconnect: bool = False,
        forbid_after_end: bool = False,
    ) -> None:
        self.chunks = list(chunks)
        self.calls = 0
        self.disconnect = disconnect
        self.forbid_after_end = forbid_after_end
        self.ended = False

    def __call__(self) -> bytes:
        self.calls += 1
        if self.chunks:
            return self.chunks.pop(0)
        if self.disconnect:
            raise ClientDisconnected("the client went away")
        if self.forbid_after_end:
            assert not self.ended, "fetch called again after it reported the end of the body"
        self.ended = True
        return b""


def body(*chunks: bytes, length: int | None = None) -> RequestBody:
    return RequestBody(Chunks(list(chunks), forbid_after_end=True), length)


# ---------------------------------------------------------------- A3.1 read


@pytest.mark.parametrize("arg", [(), (-1,), (None,), (-5,)])
def test_read_all(arg: tuple[int | None, ...]) -> None:
    stream = body(b"ab", b"cd\nef", b"g")
    assert stream.read(*arg) == b"abcd\nefg"
    assert stream.read(*arg) == b""
    assert stream.read(3) == b""


def test_read_n_across_chunks() -> None:
    stream = body(b"a", b"b", b"c", b"defgh", b"ij")
    assert stream.read(3) == b"abc"
    assert stream.read(1) == b"d"
    assert stream.read(5) == b"efghi"
    assert stream.read(5) == b"j"  # fewer only at EOF
    assert stream.read(5) == b""
    assert stream.read() == b""


def test_read_zero() -> None:
    stream = body(b"abc")
    assert stream.read(0) == b""
    assert stream.read() == b"abc"


def test_read_after_partial_read_returns_rest() -> None:
    stream = body(b"hello ", b"world")
    assert stream.read(2) == b"he"
    assert stream.read() == b"llo world"


# ---------------------------------------------------------------- A3.2 readline


def test_readline_crosses_chunks() -> None:
    stream = body(b"ab", b"cd\nef")
    assert stream.readline(10) == b"abcd\n"
    assert stream.readline(10) == b"ef"
    assert stream.readline(10) == b""


def test_readline_limit_never_empty_while_data_remains() -> None:
    stream = body(b"ab", b"cd\nef")
    assert stream.readline(3) == b"abc"
    assert stream.readline(3) == b"d\n"
    assert stream.readline(3) == b"ef"
    assert stream.readline(3) == b""


def test_readline_limit_one_before_first_chunk() -> None:
    stream = body(b"xy")
    assert stream.readline(1) == b"x"
    assert stream.readline(1) == b"y"
    assert stream.readline(1) == b""


@pytest.mark.parametrize("arg", [(), (-1,), (None,)])
def test_readline_unlimited(arg: tuple[int | None, ...]) -> None:
    stream = body(b"one\ntw", b"o\n", b"three")
    assert stream.readline(*arg) == b"one\n"
    assert stream.readline(*arg) == b"two\n"
    assert stream.readline(*arg) == b"three"
    assert stream.readline(*arg) == b""


def test_readline_mixed_with_read() -> None:
    stream = body(b"a\nbc", b"d\ne")
    assert stream.readline() == b"a\n"
    assert stream.read(2) == b"bc"
    assert stream.readline() == b"d\n"
    assert stream.read() == b"e"


# ---------------------------------------------------------------- A3.3 readlines


def test_readlines_all() -> None:
    assert body(b"a\nb", b"c\n", b"d").readlines() == [b"a\n", b"bc\n", b"d"]


@pytest.mark.parametrize("hint", [-1, 0, None])
def test_readlines_no_hint(hint: int | None) -> None:
    assert body(b"a\nb", b"c\n", b"d").readlines(hint) == [b"a\n", b"bc\n", b"d"]


def test_readlines_hint_is_a_byte_budget() -> None:
    stream = body(b"aa\nbb\n", b"cc\ndd\n")
    first = stream.readlines(4)
    assert first == [b"aa\n", b"bb\n"]  # stop once the budget is reached
    assert stream.readlines() == [b"cc\n", b"dd\n"]


def test_readlines_hint_small_still_returns_a_line() -> None:
    stream = body(b"abc\n", b"def\n")
    assert stream.readlines(1) == [b"abc\n"]
    assert stream.readlines(1) == [b"def\n"]
    assert stream.readlines(1) == []


# ---------------------------------------------------------------- A3.4 iteration


def test_iteration_yields_lines_and_stops() -> None:
    stream = body(b"a\nb", b"c\n", b"d")
    assert iter(stream) is stream
    assert list(stream) == [b"a\n", b"bc\n", b"d"]
    assert list(stream) == []


def test_iteration_ends_on_newline_without_empty_line() -> None:
    lines = list(body(b"a\n", b"b\n"))
    assert lines == [b"a\n", b"b\n"]
    assert b"" not in lines


# ---------------------------------------------------------------- empty bodies


@pytest.mark.parametrize(
    "make",
    [
        lambda: RequestBody(Chunks([])),
        lambda: RequestBody(Chunks([]), 0),
        lambda: RequestBody(None, 0),
        lambda: RequestBody(None),
        lambda: RequestBody(Chunks([b"ignored"]), 0),
    ],
)
def test_empty_body(make: Callable[[], RequestBody]) -> None:
    assert make().read() == b""
    assert make().read(5) == b""
    assert make().readline() == b""
    assert make().readline(5) == b""
    assert make().readlines() == []
    assert list(make()) == []


# ---------------------------------------------------------------- A3.5 Content-Length as EOF


def test_length_acts_as_eof() -> None:
    fetch = Chunks([b"hello", b"world", b"!!"])
    stream = RequestBody(fetch, 7)
    assert stream.read() == b"hellowo"
    assert stream.read() == b""
    assert stream.readline() == b""
    assert b"rld" not in stream.read(10)


def test_length_eof_for_readline_and_iteration() -> None:
    stream = RequestBody(Chunks([b"ab\ncd\n", b"ef\n"]), 5)
    assert list(stream) == [b"ab\n", b"cd"]


def test_length_reached_stops_fetching() -> None:
    fetch = Chunks([b"hel", b"lo"], forbid_after_end=True)
    fetch.chunks.append(b"EXTRA")
    stream = RequestBody(fetch, 5)
    assert stream.read() == b"hello"
    calls = fetch.calls
    assert stream.read() == b""
    assert stream.read(1) == b""
    assert stream.readline() == b""
    assert fetch.calls == calls == 2


def test_short_body_with_length_ends_at_fetch_eof() -> None:
    stream = RequestBody(Chunks([b"abc"]), 10)
    assert stream.read() == b"abc"
    assert stream.read() == b""


# ---------------------------------------------------------------- A3.6 laziness


def test_nothing_fetched_before_first_read() -> None:
    fetch = Chunks([b"abc", b"def"])
    stream = RequestBody(fetch, None)
    assert fetch.calls == 0
    assert stream.read(2) == b"ab"
    assert fetch.calls == 1  # only what was needed
    assert stream.read(1) == b"c"
    assert fetch.calls == 1


def test_readline_fetches_only_what_it_needs() -> None:
    fetch = Chunks([b"a\n", b"b\n", b"c\n"])
    stream = RequestBody(fetch, None)
    assert stream.readline() == b"a\n"
    assert fetch.calls == 1


# ---------------------------------------------------------------- A3.7 disconnect


def test_disconnect_is_an_oserror() -> None:
    assert issubclass(ClientDisconnected, OSError)


@pytest.mark.parametrize(
    "operation",
    [
        lambda s: s.read(),
        lambda s: s.read(-1),
        lambda s: s.read(None),
        lambda s: s.read(100),
        lambda s: s.readline(),
        lambda s: s.readline(100),
        lambda s: s.readlines(),
        list,
    ],
)
def test_disconnect_raises_and_never_looks_like_eof(
    operation: Callable[[RequestBody], object],
) -> None:
    stream = RequestBody(Chunks([b"ab", b"cd"], disconnect=True), None)
    with pytest.raises(ClientDisconnected):
        operation(stream)
    # Still not EOF on the next call either.
    with pytest.raises(ClientDisconnected):
        stream.read()


def test_disconnect_with_content_length() -> None:
    stream = RequestBody(Chunks([b"abc"], disconnect=True), 10)
    assert stream.read(3) == b"abc"
    with pytest.raises(OSError):
        stream.read(1)
    with pytest.raises(ClientDisconnected):
        stream.read()


def test_data_before_disconnect_is_readable() -> None:
    stream = RequestBody(Chunks([b"ab\n", b"cd"], disconnect=True), None)
    assert stream.readline() == b"ab\n"
    assert stream.read(2) == b"cd"
    with pytest.raises(ClientDisconnected):
        stream.readline()


# ---------------------------------------------------------------- properties

operations = st.lists(
    st.one_of(
        st.tuples(st.just("read"), st.one_of(st.none(), st.just(-1), st.integers(0, 20))),
        st.tuples(st.just("readline"), st.one_of(st.none(), st.just(-1), st.integers(1, 20))),
        st.tuples(st.just("readlines"), st.one_of(st.none(), st.integers(-1, 20))),
        st.tuples(st.just("next"), st.none()),
    ),
    max_size=12,
)


@st.composite
def chunked_bodies(draw: st.DrawFn) -> tuple[bytes, list[bytes]]:
    data = draw(st.binary(max_size=64) | st.text("ab\n", max_size=64).map(str.encode))
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=8)))
    chunks = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
    # An empty chunk means EOF to the reader, so the fetch never returns one mid-body.
    return data, [c for c in chunks if c]


@given(chunked_bodies(), operations, st.booleans(), st.binary(max_size=8))
def test_property_reads_concatenate_to_body(
    body_and_chunks: tuple[bytes, list[bytes]],
    ops: list[tuple[str, int | None]],
    with_length: bool,
    extra: bytes,
) -> None:
    data, chunks = body_and_chunks
    length = None
    if with_length:
        length = len(data)
        chunks = [*chunks, extra] if extra else chunks  # beyond Content-Length: never returned
    fetch = Chunks(chunks)
    stream = RequestBody(fetch, length)
    got = bytearray()
    for op, arg in ops:
        remaining = len(data) - len(got)
        if op == "read":
            part = stream.read(arg)
            if arg is None or arg < 0:
                assert part == data[len(got) :]
            else:
                assert len(part) == min(arg, remaining)
            got += part
        elif op == "readline":
            line = stream.readline(arg)
            if remaining:
                assert line != b""
            if arg is not None and arg >= 0:
                assert len(line) <= arg
            assert b"\n" not in line[:-1]
            got += line
        elif op == "readlines":
            lines = stream.readlines(arg)
            assert b"" not in lines
            for line in lines:
                got += line
        else:
            try:
                line = next(stream)
            except StopIteration:
                assert remaining == 0
            else:
                assert line != b""
                got += line
        assert bytes(got) == data[: len(got)]
    got += stream.read()
    assert bytes(got) == data
    assert stream.read() == b""
    assert list(stream) == []


# ---------------------------------------------------------------- read(n) of whole chunks


def test_read_n_of_exact_chunks_keeps_length_and_eof() -> None:
    """Chunks of exactly ``n`` bytes pass straight through; a Content-Length still cuts."""
    stream = RequestBody(Chunks([b"abcd", b"efgh", b"ijklmnop"]), 10)
    assert stream.read(4) == b"abcd"
    assert stream.read(4) == b"efgh"
    assert stream.read(4) == b"ij"  # cut at the declared length: fewer only at EOF
    assert stream.read(4) == b""


def test_read_n_of_a_short_chunk_waits_for_more_unless_at_eof() -> None:
    stream = body(b"ab", b"cdef", b"g")
    assert stream.read(4) == b"abcd"  # a short chunk is not returned alone before EOF
    assert stream.read(2) == b"ef"
    assert stream.read(4) == b"g"
    assert stream.read(4) == b""


def test_read_n_returns_bytes_for_a_bytearray_chunk() -> None:
    stream = RequestBody(Chunks([bytearray(b"wxyz")]), None)
    data = stream.read(4)
    assert type(data) is bytes
    assert data == b"wxyz"
