"""Pure translation of a PEP 3333 environ into an ASGI ``http`` scope.

Theory of operation
-------------------
:func:`build_scope` is called once per request by :class:`bridge.AsgiToWsgi`
on the WSGI server's worker thread. It reads the environ, never changes it, and
returns a new scope dict. It never raises on odd input from a WSGI server: a
missing key, a non-numeric port or a path that is not UTF-8 all map to a
documented value (checklist B1). Request-level refusals raise
:class:`~bridge._errors.RequestRejected`: a bad CONTENT_LENGTH (decided by
:func:`request_body_length`), a header that would smuggle CR, LF or NUL into
the app, and a request head past the limits (``bridge._limits``).

WSGI strings carry bytes as latin-1, so every ``str -> bytes`` step here is a
latin-1 encode; ``path`` (text in ASGI) is those bytes decoded as UTF-8 with
replacement, and ``raw_path`` keeps the exact octets.

What does not live here: reading ``wsgi.input``, the lifespan ``state`` (the
caller passes a copy in), anything that waits.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, unquote_to_bytes

from ._errors import RequestRejected
from ._http import _GOOD_REQUEST_NAMES, check_request_header_name, check_request_header_value
from ._limits import (
    DEFAULT_MAX_HEADER_BYTES,
    DEFAULT_MAX_HEADER_COUNT,
    headers_too_large,
    target_too_long,
    too_many_headers,
)

Scope = dict[str, Any]

ASGI_VERSION = {"version": "3.0", "spec_version": "2.4"}
_PATH_SAFE = "/:@!$&'()*+,;=-._~"
_PATH_SAFE_BYTES = (
    _PATH_SAFE + "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
).encode("ascii")
_TLS_VERSIONS = {"TLSv1.2": 0x0303, "TLSv1.3": 0x0304, "TLSv1.1": 0x0302, "TLSv1": 0x0301}


def wsgi_str_to_bytes(text: str) -> bytes:
    """The bytes a WSGI string stands for; text from a non-conforming server
    (code points above U+00FF) falls back to UTF-8 instead of raising."""
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")


def http_version_of(server_protocol: str | None) -> str:
    """``HTTP/1.0 -> "1.0"``, ``HTTP/2.0 -> "2"``; anything unknown is "1.1"."""
    if server_protocol == "HTTP/1.1":
        return "1.1"
    if server_protocol == "HTTP/1.0":
        return "1.0"
    if server_protocol in ("HTTP/2", "HTTP/2.0"):
        return "2"
    return "1.1"


def _raw_path(environ: Mapping[str, Any], path_bytes: bytes) -> bytes:
    for key in ("RAW_URI", "REQUEST_URI"):
        uri = environ.get(key)
        if not isinstance(uri, str) or not uri:
            continue
        candidate = uri.split("?", 1)[0]
        if candidate.startswith(("http://", "https://")):  # absolute-form request target
            slash = candidate.find("/", candidate.find("//") + 2)
            candidate = candidate[slash:] if slash != -1 else "/"
        cand_bytes = wsgi_str_to_bytes(candidate)
        if cand_bytes == path_bytes and b"%" not in cand_bytes:
            return cand_bytes  # nothing escaped: the common case, without unquoting
        if unquote_to_bytes(cand_bytes) == path_bytes:
            return cand_bytes
    if not path_bytes.translate(None, _PATH_SAFE_BYTES):
        return path_bytes  # every byte is one quote() keeps as it is
    return quote(path_bytes, safe=_PATH_SAFE).encode("ascii")


def _port(value: object) -> int | None:
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit() and value.isascii():
        return int(value)
    return None


def headers_of(
    environ: Mapping[str, Any],
    *,
    max_header_count: int = DEFAULT_MAX_HEADER_COUNT,
    max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES,
) -> list[tuple[bytes, bytes]]:
    """Request headers as lowercase byte pairs (checklist B1.7).

    Raises :class:`RequestRejected`: 400 for a name that is not a token or a
    value holding CR, LF or NUL (never forwarded to the app), 431 past the limits.
    """
    headers: list[tuple[bytes, bytes]] = []
    size = 0
    content_type = environ.get("CONTENT_TYPE") or environ.get("HTTP_CONTENT_TYPE")
    if content_type:
        if not content_type.isprintable():
            check_request_header_value("content-type", content_type)
        headers.append((b"content-type", wsgi_str_to_bytes(content_type)))
        size = 12 + len(content_type)
    content_length = environ.get("CONTENT_LENGTH") or environ.get("HTTP_CONTENT_LENGTH")
    if content_length:
        # Stripped, as request_body_length reads it: "5\n" is 5, never forwarded raw.
        content_length = content_length.strip()
        if not content_length.isprintable():
            check_request_header_value("content-length", content_length)
        if content_length:
            headers.append((b"content-length", wsgi_str_to_bytes(content_length)))
            size += 14 + len(content_length)
    for key, value in environ.items():
        if (
            key[:5] == "HTTP_"
            and key not in ("HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH")
            and isinstance(value, str)
        ):
            name = key[5:].replace("_", "-").lower()
            size += len(name) + len(value)
            if not value.isprintable():
                check_request_header_value(name, value)  # CR/LF/NUL: 400
            if name not in _GOOD_REQUEST_NAMES:
                check_request_header_name(name)  # not a token: 400
            headers.append((name.encode("latin-1"), wsgi_str_to_bytes(value)))
    if len(headers) > max_header_count:
        raise too_many_headers(len(headers), max_header_count)
    if size > max_header_bytes:
        raise headers_too_large(max_header_bytes)
    return headers


def tls_info(environ: Mapping[str, Any]) -> dict[str, Any] | None:
    """The ``tls`` extension from mod_ssl-style variables, or None for plain HTTP."""
    if environ.get("HTTPS") not in ("on", "1") and "SSL_PROTOCOL" not in environ:
        return None
    cert = environ.get("SSL_SERVER_CERT")
    chain: list[str] = []
    client_cert = environ.get("SSL_CLIENT_CERT")
    if client_cert:
        chain.append(client_cert)
        index = 0
        while (extra := environ.get(f"SSL_CLIENT_CERT_CHAIN_{index}")) is not None:
            chain.append(extra)
            index += 1
    return {
        "server_cert": cert if isinstance(cert, str) else None,
        "client_cert_chain": chain,
        "client_cert_name": environ.get("SSL_CLIENT_S_DN"),
        "client_cert_error": None,
        "tls_version": _TLS_VERSIONS.get(environ.get("SSL_PROTOCOL", "")),
        "cipher_suite": None,
    }


def build_scope(
    environ: Mapping[str, Any],
    *,
    state: dict[str, Any] | None,
    extensions: Mapping[str, Any],
    max_header_count: int = DEFAULT_MAX_HEADER_COUNT,
    max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES,
) -> Scope:
    """Build the ``http`` scope for one request. ``state`` must already be a copy.

    Raises :class:`RequestRejected` only for what the limits or the header rules
    refuse (see :func:`headers_of`; 414 for a path plus query string longer than
    ``max_header_bytes``); any other odd value maps to a documented default.
    """
    script_name: str = environ.get("SCRIPT_NAME", "") or ""
    path_info: str = environ.get("PATH_INFO", "") or ""
    query: str = environ.get("QUERY_STRING", "") or ""
    target = len(script_name) + len(path_info) + len(query)
    if target > max_header_bytes:
        raise target_too_long(target, max_header_bytes)
    root_bytes = wsgi_str_to_bytes(script_name)
    path_bytes = root_bytes + wsgi_str_to_bytes(path_info)
    if path_bytes.isascii():
        root_path = root_bytes.decode("ascii")
        path = path_bytes.decode("ascii")
    else:
        root_path = root_bytes.decode("utf-8", "replace")
        path = path_bytes.decode("utf-8", "replace")
        if not path.startswith(root_path):  # replacement split a character
            path = root_path + wsgi_str_to_bytes(path_info).decode("utf-8", "replace")

    remote_addr = environ.get("REMOTE_ADDR")
    client = None
    if remote_addr:
        client = (remote_addr, _port(environ.get("REMOTE_PORT")) or 0)
    server_name = environ.get("SERVER_NAME")
    server = (server_name, _port(environ.get("SERVER_PORT"))) if server_name else None

    ext = dict(extensions)
    tls = tls_info(environ)
    if tls is not None:
        ext["tls"] = tls

    scope: Scope = {
        "type": "http",
        "asgi": ASGI_VERSION,
        "http_version": http_version_of(environ.get("SERVER_PROTOCOL")),
        "method": str(environ.get("REQUEST_METHOD", "GET")).upper(),
        "scheme": environ.get("wsgi.url_scheme") or "http",
        "path": path,
        "raw_path": _raw_path(environ, path_bytes),
        "query_string": wsgi_str_to_bytes(query),
        "root_path": root_path,
        "headers": headers_of(
            environ, max_header_count=max_header_count, max_header_bytes=max_header_bytes
        ),
        "client": client,
        "server": server,
        "extensions": ext,
        "wsgi_environ": environ,
    }
    if state is not None:
        scope["state"] = state
    return scope


def request_body_length(environ: Mapping[str, Any]) -> int | None:
    """How many body bytes to read from ``wsgi.input``.

    An int for a valid CONTENT_LENGTH; None for "read to EOF" (no length but
    ``wsgi.input_terminated`` or a chunked request); 0 when there is no body.
    A CONTENT_LENGTH that is not a non-negative integer is refused with 400.
    """
    raw = environ.get("CONTENT_LENGTH")
    if raw:
        text = str(raw).strip()
        if not (text.isdigit() and text.isascii()):
            raise RequestRejected(400, f"invalid CONTENT_LENGTH {raw!r}")
        return int(text)
    if environ.get("wsgi.input_terminated"):
        return None
    if "chunked" in str(environ.get("HTTP_TRANSFER_ENCODING", "")).lower():
        return None
    return 0
