"""A small in-process WSGI "server" for tests: build an environ, call, iterate, close.

:func:`call_wsgi` does what a WSGI server does with one request, in the calling
thread and without sockets:

1. builds a complete PEP 3333 environ (every required CGI and ``wsgi.*`` key;
   ``wsgi.input`` is an ``io.BytesIO`` over ``body`` or the stream you pass;
   ``CONTENT_LENGTH`` is set when ``body`` is non-empty);
2. wraps the app in :func:`wsgiref.validate.validator` (``validate=False`` to
   skip it, e.g. to send an environ the validator itself refuses);
3. calls the app with a ``start_response`` that records every call
   (status, headers, exc_info);
4. iterates the returned iterable, collecting every chunk (optionally stopping
   after ``close_after`` chunks, as a client that went away would make a
   server do);
5. always calls the iterable's ``close()``, if it has one.

An exception raised while iterating is re-raised after ``close()``, unless
``catch=True``, in which case it is stored in :attr:`Result.error`.

Environ overrides: ``environ_overrides`` is applied last; a value of ``None``
deletes the key (``{"CONTENT_LENGTH": None}`` sends a body without a length).
"""

from __future__ import annotations

import io
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from wsgiref.validate import validator

__all__ = ["Result", "StartCall", "build_environ", "call_wsgi"]


@dataclass
class StartCall:
    """One call of ``start_response``."""

    status: str
    headers: list[tuple[str, str]]
    exc_info: Any


@dataclass
class Result:
    """What the "server" saw for one request."""

    status: str | None
    headers: list[tuple[str, str]]
    body: bytes
    exc_info_passed: bool
    chunks: list[bytes]
    start_calls: list[StartCall] = field(default_factory=list)
    environ: dict[str, Any] = field(default_factory=dict)
    #: The object the app returned (the validator's wrapper when validating).
    iterable: Any = None
    #: An exception raised while iterating (only with ``catch=True``).
    error: BaseException | None = None
    #: An exception raised by the iterable's ``close()`` (only with ``catch=True``).
    close_error: BaseException | None = None
    #: True when the driver stopped before the iterable was exhausted.
    closed_early: bool = False

    def header(self, name: str) -> str | None:
        """The first response header called ``name`` (case-insensitive), or None."""
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None


def build_environ(  # noqa: PLR0917 - mirrors call_wsgi
    method: str = "GET",
    path: str = "/",
    body: bytes = b"",
    headers: Mapping[str, str] | None = None,
    environ_overrides: Mapping[str, Any] | None = None,
    input_stream: Any = None,
) -> dict[str, Any]:
    """A complete PEP 3333 environ for one request.

    ``path`` may carry a query (``"/a?x=1"``). ``headers`` maps HTTP header
    names to values (``{"X-Token": "t"}`` -> ``HTTP_X_TOKEN``; ``Content-Type``
    -> ``CONTENT_TYPE``).
    """
    path_info, _, query = path.partition("?")
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": "",
        "PATH_INFO": path_info,
        "QUERY_STRING": query,
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "REMOTE_PORT": "54321",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": input_stream if input_stream is not None else io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    if body:
        environ["CONTENT_LENGTH"] = str(len(body))
    for name, value in (headers or {}).items():
        key = name.upper().replace("-", "_")
        if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            environ[key] = value
        else:
            environ["HTTP_" + key] = value
    for key, value in (environ_overrides or {}).items():
        if value is None:
            environ.pop(key, None)
        else:
            environ[key] = value
    return environ


def call_wsgi(  # noqa: PLR0917 - the documented signature
    app: Callable[..., Any],
    method: str = "GET",
    path: str = "/",
    body: bytes = b"",
    headers: Mapping[str, str] | None = None,
    environ_overrides: Mapping[str, Any] | None = None,
    input_stream: Any = None,
    read_size: int | None = None,
    close_after: int | None = None,
    *,
    validate: bool = True,
    catch: bool = False,
    on_chunk: Callable[[int, bytes], None] | None = None,
) -> Result:
    """Serve one request to the WSGI ``app`` and return what a client would get.

    :param read_size: when given (and no ``input_stream``), ``wsgi.input`` returns
        at most ``read_size`` bytes per ``read()``, like a slow, trickling client.
    :param close_after: stop after this many chunks and close the iterable.
    :param validate: wrap ``app`` in ``wsgiref.validate.validator``.
    :param catch: store an exception raised during iteration in ``Result.error``
        instead of raising it (``close()`` is called either way), and one raised
        by ``close()`` in ``Result.close_error``.
    :param on_chunk: called as ``on_chunk(index, chunk)`` right after each chunk
        is pulled from the iterable, before the next one is asked for.
    """
    if input_stream is None and read_size is not None:
        input_stream = TricklingInput(body, read_size)
    environ = build_environ(method, path, body, headers, environ_overrides, input_stream)
    calls: list[StartCall] = []

    def start_response(status: str, response_headers: list[tuple[str, str]], *exc: Any) -> Any:
        exc_info = exc[0] if exc else None
        calls.append(StartCall(status, list(response_headers), exc_info))

        def write(data: bytes) -> None:
            raise AssertionError("the bridge must not use the write() callable")

        return write

    wsgi_app = validator(app) if validate else app
    iterable = wsgi_app(environ, start_response)
    chunks: list[bytes] = []
    error: BaseException | None = None
    close_error: BaseException | None = None
    closed_early = False
    try:
        iterator = iter(iterable)
        while True:
            if close_after is not None and len(chunks) >= close_after:
                closed_early = True
                break
            try:
                chunk = next(iterator)
            except StopIteration:
                break
            chunks.append(chunk)
            if on_chunk is not None:
                on_chunk(len(chunks) - 1, chunk)
    except Exception as exc:
        if not catch:
            raise
        error = exc
    finally:
        close = getattr(iterable, "close", None)
        if close is not None:
            try:
                close()
            except Exception as exc:
                if not catch:
                    raise
                close_error = exc
    last = calls[-1] if calls else None
    return Result(
        status=last.status if last else None,
        headers=last.headers if last else [],
        body=b"".join(chunks),
        exc_info_passed=any(call.exc_info is not None for call in calls),
        chunks=chunks,
        start_calls=calls,
        environ=environ,
        iterable=iterable,
        error=error,
        close_error=close_error,
        closed_early=closed_early,
    )


class TricklingInput(io.RawIOBase):
    """A ``wsgi.input`` that returns at most ``step`` bytes per ``read()``."""

    def __init__(self, data: bytes, step: int) -> None:
        super().__init__()
        self._data = data
        self._pos = 0
        self._step = step

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            size = len(self._data)
        n = min(size, self._step)
        chunk = self._data[self._pos : self._pos + n]
        self._pos += len(chunk)
        return chunk
