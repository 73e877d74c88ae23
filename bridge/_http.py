"""Pure HTTP rules both directions share: status lines and response headers.

Theory of operation
-------------------
WSGI speaks ``str`` ("WSGI strings": every code point <= U+00FF standing for one
byte) and ASGI speaks ``bytes``. Everything that crosses from one to the other
passes through one function here, which validates as it converts, so that no
direction can forward what the other side would choke on or what an attacker
could use: CR/LF/NUL (response splitting), non-token header names, code points
above U+00FF, and hop-by-hop headers that only the server may set.

Nothing in this module does I/O, touches threads or an event loop, or keeps
state: each function maps its arguments to a value or raises ``TypeError`` /
``ValueError`` with a message that names the offending item. That is what lets
hypothesis hammer these functions directly (tests/test_http.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from http import HTTPStatus

from ._errors import RequestRejected
from ._limits import DEFAULT_MAX_RESPONSE_HEADER_BYTES, response_headers_too_large

# RFC 9110 section 7.6.1: connection-specific header fields. WSGI forbids apps
# to send them (PEP 3333, "Other HTTP Features") and ASGI servers frame the
# response themselves, so a bridge never forwards them in either direction.
HOP_BY_HOP: frozenset[str] = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
HOP_BY_HOP_BYTES: frozenset[bytes] = frozenset(n.encode("ascii") for n in HOP_BY_HOP)

# RFC 9110 section 5.6.2 token characters.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
_TOKEN_BYTES = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
# Field values may hold VCHAR, obs-text (0x80-0xFF), SP and HTAB; every other
# control character (CR, LF and NUL included) is refused.
_BAD_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]|[^\x00-\xff]")
_BAD_VALUE_BYTES = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
# PEP 3333: "three-digit code, a single space, a reason phrase"; the reason may
# hold any field-value character but no control character.
_STATUS = re.compile(r"([1-9][0-9][0-9]) [^\x00-\x08\x0a-\x1f\x7f]*\Z")

# RFC 9110 section 5.5: a recipient MUST reject (or replace) CR, LF and NUL in
# a field value; other control characters MAY be kept, so request values are
# held to this rule only (servers already refuse the rest).
_FORBIDDEN_IN_REQUEST = re.compile(r"[\r\n\x00]")
# Request header names already checked to be tokens (bounded: a client cannot
# make it grow past _NAME_CACHE_SIZE).
_GOOD_REQUEST_NAMES: set[str] = set()
_NAME_CACHE_SIZE = 1024

_STATUS_LINES: dict[int, str] = {
    s.value: f"{s.value} {s.phrase}" for s in HTTPStatus if s.value >= 200
}


def parse_status(status: object) -> int:
    """Return the status code of a WSGI status line such as ``"404 Not Found"``.

    The reason phrase is checked, then dropped: ASGI carries the code only.
    1xx codes are refused because a WSGI app cannot send an interim response.
    """
    if type(status) is not str:
        raise TypeError(f"WSGI status must be a str, got {type(status).__name__}: {status!r}")
    match = _STATUS.match(status)
    if match is None:
        raise ValueError(
            f"malformed WSGI status line {status!r}: "
            "expected three digits, one space and a reason phrase, such as '200 OK'"
        )
    code = int(match.group(1))
    if code < 200:
        raise ValueError(f"status {status!r}: an informational (1xx) status cannot be final")
    return code


def status_line(code: int) -> str:
    """Return the WSGI status line for an ASGI status code (``404 -> "404 Not Found"``)."""
    line = _STATUS_LINES.get(code)
    if line is not None:
        return line
    return f"{code} Unknown"


def check_asgi_status(status: object) -> int:
    """Validate the ``status`` of an ``http.response.start`` message."""
    if not isinstance(status, int) or isinstance(status, bool):
        raise TypeError(
            f"http.response.start 'status' must be an int, got {type(status).__name__}: {status!r}"
        )
    if not 200 <= status <= 599:
        raise ValueError(
            f"http.response.start status {status} is outside 200..599; "
            "1xx responses cannot cross WSGI's start_response"
        )
    return int(status)  # an IntEnum such as HTTPStatus.CREATED becomes a plain int


_GOOD_METHODS: set[str] = set()


def check_request_method(method: object) -> None:
    """Refuse (400) a request method that is not a token (RFC 9110 section 9.1)."""
    if type(method) is not str or _TOKEN.match(method) is None:
        raise RequestRejected(400, f"invalid request method {method!r}")
    if len(_GOOD_METHODS) < _NAME_CACHE_SIZE:
        _GOOD_METHODS.add(method)


def check_request_header_name(name: str) -> None:
    """Refuse (400) a request header name that is not an RFC 9110 token.

    Called only for names not seen before, so a known name costs one set lookup.
    """
    if _TOKEN.match(name) is None:
        raise RequestRejected(400, f"invalid request header name {name!r}")
    if len(_GOOD_REQUEST_NAMES) < _NAME_CACHE_SIZE:
        _GOOD_REQUEST_NAMES.add(name)


def check_request_header_value(name: str, value: str) -> None:
    """Refuse (400) a request header value holding CR, LF or NUL (RFC 9110 section 5.5).

    Callers skip this when ``value.isprintable()`` (the common case, one C call).
    """
    if _FORBIDDEN_IN_REQUEST.search(value) is not None:
        raise RequestRejected(400, f"request header {name!r} holds CR, LF or NUL")


def _header_pair(item: object) -> tuple[object, object]:
    """A WSGI response header entry that is not a 2-tuple, as a pair, or ``TypeError``.

    Lists and other sequences of two items are accepted (asgiref and a2wsgi
    take them); ``str`` and ``bytes`` are sequences too but never a pair.
    """
    if (
        isinstance(item, Sequence)
        and not isinstance(item, (str, bytes, bytearray))
        and len(item) == 2
    ):
        return item[0], item[1]
    raise TypeError(
        f"each WSGI response header must be a (name, value) pair of str, got "
        f"{type(item).__name__}: {item!r}"
    )


def encode_wsgi_headers(
    headers: object, max_bytes: int = DEFAULT_MAX_RESPONSE_HEADER_BYTES
) -> list[tuple[bytes, bytes]]:
    """WSGI ``start_response`` headers -> ASGI header pairs.

    Names are lowercased (ASGI servers expect it), both parts are encoded as
    latin-1, and hop-by-hop headers are dropped. Leading and trailing spaces
    and tabs are stripped from values: they are not part of a field value
    (RFC 9110 section 5.5) and h11 (uvicorn) refuses them, while Django's WSGI
    handler sends every Set-Cookie value with a leading space.

    PEP 3333 asks for a list of ``(name, value)`` tuples; like asgiref and
    a2wsgi, any 2-item sequence of ``str`` (``["X-A", "1"]``) is accepted as an
    entry too, and validated the same way. ``TypeError``: ``headers`` is not a
    list, an entry is not a 2-item sequence, or a part is not a ``str``.
    ``ValueError``: a name is not a token, a value holds control characters or
    code points above U+00FF, or names and values add up to more than
    ``max_bytes``.
    """
    if type(headers) is not list:
        raise TypeError(
            f"WSGI response headers must be a list, got {type(headers).__name__} (PEP 3333)"
        )
    out: list[tuple[bytes, bytes]] = []
    size = 0
    for item in headers:
        if type(item) is tuple and len(item) == 2:  # the common case: two checks
            name, value = item
        else:
            name, value = _header_pair(item)
        if type(name) is not str or type(value) is not str:
            raise TypeError(f"WSGI response header name and value must be str: {item!r}")
        size += len(name) + len(value)
        if size > max_bytes:
            raise response_headers_too_large(max_bytes)
        if _TOKEN.match(name) is None:
            raise ValueError(f"invalid response header name {name!r}")
        if _BAD_VALUE.search(value) is not None:
            raise ValueError(
                f"invalid response header value for {name!r}: {value!r} "
                "(control characters such as CR, LF or NUL, or characters above U+00FF)"
            )
        lname = name.lower()
        if lname in HOP_BY_HOP:
            continue
        out.append((lname.encode("ascii"), value.strip(" \t").encode("latin-1")))
    return out


def decode_asgi_headers(
    headers: object, max_bytes: int = DEFAULT_MAX_RESPONSE_HEADER_BYTES
) -> list[tuple[str, str]]:
    """ASGI ``http.response.start`` headers -> WSGI header list.

    Every entry must be a pair of ``bytes``: any 2-item iterable, a list as
    well as a tuple, as the ASGI spec allows. Names must be tokens (so
    pseudo-headers such as ``:status`` are refused) and values may not hold
    control characters. Hop-by-hop headers are dropped: wsgiref asserts on them.
    Names and values adding up to more than ``max_bytes`` raise ``ValueError``.
    """
    if headers is None:
        return []
    out: list[tuple[str, str]] = []
    size = 0
    try:
        iterator = iter(headers)  # type: ignore[call-overload]
    except TypeError:
        raise TypeError(
            f"http.response.start 'headers' must be an iterable of [name, value] byte pairs, "
            f"got {type(headers).__name__}"
        ) from None
    for item in iterator:
        try:
            name, value = item
        except (TypeError, ValueError):
            raise TypeError(f"each ASGI header must be a [name, value] pair: {item!r}") from None
        if type(name) is not bytes or type(value) is not bytes:
            if isinstance(name, (bytes, bytearray)) and isinstance(value, (bytes, bytearray)):
                name, value = bytes(name), bytes(value)
            else:
                raise TypeError(f"ASGI header name and value must be bytes, got {item!r}")
        size += len(name) + len(value)
        if size > max_bytes:
            raise response_headers_too_large(max_bytes)
        if _TOKEN_BYTES.match(name) is None:
            raise ValueError(f"invalid ASGI response header name {name!r}")
        if _BAD_VALUE_BYTES.search(value) is not None:
            raise ValueError(
                f"invalid ASGI response header value for {name!r}: {value!r} "
                "(control characters such as CR, LF or NUL)"
            )
        lname = name.lower()
        if lname in HOP_BY_HOP_BYTES:
            continue
        out.append((lname.decode("latin-1"), value.decode("latin-1")))
    return out


def content_length_of(headers: Iterable[tuple[bytes, bytes]]) -> int | None:
    """The declared Content-Length of already-validated ASGI response headers."""
    for name, value in headers:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
