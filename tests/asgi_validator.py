"""One ASGI message-sequence validator for every test that drives an ASGI app or server side.

Checks what both sides of an ``http`` or ``lifespan`` connection exchange,
against the ASGI spec (HTTP and WebSocket protocol 2.4, lifespan 2.0, the
``http.response.trailers`` and ``http.response.pathsend`` extensions):

* the scope: ``type``, ``asgi.version``, the required keys and their types,
  headers as a list of 2-tuples of bytes with lowercased names;
* messages the app *sends*: a dict with a known ``type``; exactly one
  ``http.response.start`` (``status`` an int, not bool, in 100..599, with
  ``headers`` a list of ``(bytes, bytes)`` with lowercased names and no
  pseudo-headers, ``trailers`` a bool) before any body; ``body`` bytes and
  ``more_body`` bool; nothing after the final body except, when ``trailers``
  was announced, ``http.response.trailers`` messages ending with
  ``more_trailers=False``; ``http.response.pathsend`` (an absolute ``path``
  str) only right after the start and only when the scope advertises it;
* messages the app *receives*: ``http.request`` (``body`` bytes, ``more_body``
  bool) until one has ``more_body=False``; then only ``http.disconnect``;
  never an ``http.request`` after a disconnect;
* lifespan: ``startup`` before ``shutdown`` on the receive side, and each
  answered exactly once, after it was received, with ``*.complete`` or
  ``*.failed`` (``message`` a str).

Use :class:`AsgiValidator` incrementally (``sent(m)`` / ``received(m)`` as the
messages pass, then ``finish()``), wrap callables with :meth:`wrap`, or check a
recorded sequence at once with :func:`validate_sequence`. A violation raises
:class:`AsgiViolation` (an ``AssertionError``, so pytest shows it plainly).
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

__all__ = ["AsgiValidator", "AsgiViolation", "check_scope", "validate_sequence"]

Message = dict[str, Any]


class AsgiViolation(AssertionError):
    """An ASGI message sequence broke the spec."""


def _fail(text: str) -> None:
    raise AsgiViolation(text)


def _check_headers(headers: Any, where: str, *, lowercase: bool = True) -> None:
    if type(headers) is not list:
        _fail(f"{where}: headers must be a list, got {type(headers).__name__}")
    for pair in headers:
        if type(pair) not in (tuple, list) or len(pair) != 2:
            _fail(f"{where}: each header must be a 2-item tuple, got {pair!r}")
        name, value = pair
        if type(name) is not bytes or type(value) is not bytes:
            _fail(f"{where}: header name and value must be bytes, got {pair!r}")
        if lowercase and name != name.lower():
            _fail(f"{where}: header name {name!r} is not lowercased")
        if name.startswith(b":"):
            _fail(f"{where}: pseudo-header {name!r}")


def _check_type(message: Mapping[str, Any], key: str, kinds: tuple[type, ...], where: str) -> None:
    if key in message and type(message[key]) not in kinds:
        names = "/".join(k.__name__ for k in kinds)
        _fail(f"{where}: {key!r} must be {names}, got {type(message[key]).__name__}")


def check_scope(scope: Mapping[str, Any]) -> None:
    """The connection scope: required keys and their types (``http`` or ``lifespan``)."""
    if not isinstance(scope, Mapping):
        _fail(f"scope must be a dict, got {type(scope).__name__}")
    kind = scope.get("type")
    asgi = scope.get("asgi")
    if not isinstance(asgi, Mapping) or asgi.get("version") not in ("2.0", "3.0"):
        _fail(f"scope['asgi']['version'] must be '2.0' or '3.0', got {asgi!r}")
    if kind == "lifespan":
        _check_type(scope, "state", (dict,), "lifespan scope")
        return
    if kind != "http":
        _fail(f"scope type must be 'http' or 'lifespan', got {kind!r}")
    for key in ("method", "path", "headers"):
        if key not in scope:
            _fail(f"http scope: required key {key!r} missing")
    method = scope["method"]
    if type(method) is not str or not method or method != method.upper():
        _fail(f"http scope: method must be a non-empty uppercase str, got {method!r}")
    if scope.get("http_version", "1.1") not in ("1.0", "1.1", "2", "3"):
        _fail(f"http scope: http_version {scope.get('http_version')!r}")
    _check_type(scope, "scheme", (str,), "http scope")
    path = scope["path"]
    if type(path) is not str:
        _fail(f"http scope: path must be str, got {type(path).__name__}")
    raw_path = scope.get("raw_path")
    if raw_path is not None and type(raw_path) is not bytes:
        _fail(f"http scope: raw_path must be bytes or None, got {type(raw_path).__name__}")
    _check_type(scope, "query_string", (bytes,), "http scope")
    _check_type(scope, "root_path", (str,), "http scope")
    root_path = scope.get("root_path", "")
    if root_path and not path.startswith(root_path.rstrip("/")):
        _fail(f"http scope: path {path!r} does not start with root_path {root_path!r}")
    _check_headers(scope["headers"], "http scope")
    for key in ("client", "server"):
        value = scope.get(key)
        if value is None:
            continue
        if type(value) not in (tuple, list) or len(value) != 2 or type(value[0]) is not str:
            _fail(f"http scope: {key} must be (host: str, port: int | None), got {value!r}")
        if value[1] is not None and type(value[1]) is not int:
            _fail(f"http scope: {key} port must be int or None, got {value[1]!r}")
    _check_type(scope, "extensions", (dict,), "http scope")
    _check_type(scope, "state", (dict,), "http scope")


class AsgiValidator:
    """Validates one connection as its messages pass (see the module docstring)."""

    def __init__(self, scope: Mapping[str, Any], *, check_the_scope: bool = True) -> None:
        if check_the_scope:
            check_scope(scope)
        self.kind: str = scope["type"]
        extensions = scope.get("extensions") or {}
        self.pathsend_ok = "http.response.pathsend" in extensions
        self.events: list[tuple[str, Message]] = []
        # http, response side
        self.started = False
        self.trailers = False
        self.body_done = False  # final body (or pathsend) sent
        self.body_sent = False
        self.trailers_done = False
        # http, request side
        self.request_done = False
        self.disconnected = False
        # lifespan
        self.lifespan_received: list[str] = []
        self.lifespan_answered: list[str] = []

    # -- the app receives --------------------------------------------------
    def received(self, message: Message) -> None:
        self.events.append(("receive", message))
        if type(message) is not dict:
            _fail(f"received a {type(message).__name__}, not a dict")
        kind = message.get("type")
        if self.kind == "lifespan":
            self._lifespan_received(kind)
            return
        if kind == "http.request":
            if self.disconnected:
                _fail("http.request received after http.disconnect")
            if self.request_done:
                _fail("http.request received after the final one (more_body=False)")
            _check_type(message, "body", (bytes,), "http.request")
            _check_type(message, "more_body", (bool,), "http.request")
            if not message.get("more_body", False):
                self.request_done = True
        elif kind == "http.disconnect":
            self.disconnected = True
        else:
            _fail(f"unknown message type received on an http connection: {kind!r}")

    def _lifespan_received(self, kind: Any) -> None:
        if kind not in ("lifespan.startup", "lifespan.shutdown"):
            _fail(f"unknown lifespan message received: {kind!r}")
        phase = kind.rsplit(".", 1)[1]
        if phase in self.lifespan_received:
            _fail(f"{kind} received twice")
        startup_pending = "startup" not in self.lifespan_answered
        if phase == "shutdown" and "startup" in self.lifespan_received and startup_pending:
            _fail("lifespan.shutdown received before startup was answered")
        self.lifespan_received.append(phase)

    # -- the app sends -----------------------------------------------------
    def sent(self, message: Message) -> None:
        self.events.append(("send", message))
        if type(message) is not dict:
            _fail(f"sent a {type(message).__name__}, not a dict")
        kind = message.get("type")
        if self.kind == "lifespan":
            self._lifespan_sent(kind, message)
            return
        if kind == "http.response.start":
            if self.started:
                _fail("http.response.start sent twice")
            status = message.get("status")
            if type(status) is not int or not 100 <= status <= 599:
                _fail(f"http.response.start: status must be an int in 100..599, got {status!r}")
            _check_headers(message.get("headers", []), "http.response.start")
            _check_type(message, "trailers", (bool,), "http.response.start")
            self.started = True
            self.trailers = bool(message.get("trailers", False))
        elif kind == "http.response.body":
            if not self.started:
                _fail("http.response.body sent before http.response.start")
            if self.body_done:
                _fail("http.response.body sent after the final body")
            _check_type(message, "body", (bytes,), "http.response.body")
            _check_type(message, "more_body", (bool,), "http.response.body")
            self.body_sent = True
            if not message.get("more_body", False):
                self.body_done = True
        elif kind == "http.response.pathsend":
            if not self.pathsend_ok:
                _fail("http.response.pathsend sent but not advertised in scope['extensions']")
            if not self.started:
                _fail("http.response.pathsend sent before http.response.start")
            if self.body_sent or self.body_done:
                _fail("http.response.pathsend sent after a body")
            path = message.get("path")
            if type(path) is not str or not os.path.isabs(path):
                _fail(f"http.response.pathsend: path must be an absolute str, got {path!r}")
            self.body_done = True
        elif kind == "http.response.trailers":
            if not self.trailers:
                _fail("http.response.trailers sent without trailers=True in the start")
            if not self.body_done:
                _fail("http.response.trailers sent before the final body")
            if self.trailers_done:
                _fail("http.response.trailers sent after more_trailers=False")
            _check_headers(message.get("headers", []), "http.response.trailers")
            _check_type(message, "more_trailers", (bool,), "http.response.trailers")
            if not message.get("more_trailers", False):
                self.trailers_done = True
        else:
            _fail(f"unknown message type sent on an http connection: {kind!r}")

    def _lifespan_sent(self, kind: Any, message: Message) -> None:
        phases = {
            "lifespan.startup.complete": "startup",
            "lifespan.startup.failed": "startup",
            "lifespan.shutdown.complete": "shutdown",
            "lifespan.shutdown.failed": "shutdown",
        }
        phase = phases.get(kind)
        if phase is None:
            _fail(f"unknown lifespan message sent: {kind!r}")
        if phase not in self.lifespan_received:
            _fail(f"{kind} sent before lifespan.{phase} was received")
        if phase in self.lifespan_answered:
            _fail(f"lifespan.{phase} answered twice")
        if kind.endswith(".failed"):
            _check_type(message, "message", (str,), kind)
        self.lifespan_answered.append(phase)

    # -- the end -----------------------------------------------------------
    @property
    def complete(self) -> bool:
        """The response ended (final body or pathsend, and trailers when announced)."""
        if self.kind == "lifespan":
            return all(p in self.lifespan_answered for p in self.lifespan_received)
        return self.body_done and (not self.trailers or self.trailers_done)

    def finish(self, *, complete: bool = True) -> None:
        """After the call: with ``complete=True`` the response must have ended."""
        if complete and not self.complete:
            if self.kind == "lifespan":
                _fail("a lifespan event was received but never answered")
            if not self.started:
                _fail("the app returned without sending http.response.start")
            _fail("the app returned without finishing its response")

    def wrap(
        self,
        receive: Callable[[], Awaitable[Message]],
        send: Callable[[Message], Awaitable[None]],
    ) -> tuple[Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]]:
        """``receive``/``send`` that validate each message (a send is checked before it goes)."""

        async def checked_receive() -> Message:
            message = await receive()
            self.received(message)
            return message

        async def checked_send(message: Message) -> None:
            self.sent(message)
            await send(message)

        return checked_receive, checked_send


def validating_app(app: Any, validators: list[AsgiValidator] | None = None) -> Any:
    """An ASGI app that validates what ``app`` gets and sends (e.g. inside AsgiToWsgi).

    Each connection's validator is appended to ``validators``; a normal return
    is checked with ``finish()``.
    """

    async def wrapped(scope: dict[str, Any], receive: Any, send: Any) -> None:
        validator = AsgiValidator(scope)
        if validators is not None:
            validators.append(validator)
        checked_receive, checked_send = validator.wrap(receive, send)
        await app(scope, checked_receive, checked_send)
        validator.finish(complete=not validator.disconnected)

    return wrapped


def validate_sequence(
    scope: Mapping[str, Any],
    events: Iterable[tuple[str, Message]],
    *,
    complete: bool = True,
) -> AsgiValidator:
    """Check a recorded connection: ``events`` are ``("send" | "receive", message)`` in order."""
    validator = AsgiValidator(scope)
    for direction, message in events:
        if direction == "send":
            validator.sent(message)
        elif direction == "receive":
            validator.received(message)
        else:
            raise ValueError(f"direction must be 'send' or 'receive', not {direction!r}")
    validator.finish(complete=complete)
    return validator
