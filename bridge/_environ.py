"""Pure translation of an ASGI ``http`` scope into a PEP 3333 environ.

Theory of operation
-------------------
:func:`build_environ` is called once per request by :class:`bridge.WsgiToAsgi`
with the server's scope and the per-adapter constants (``wsgi.errors``,
``wsgi.file_wrapper``, ...). It makes one pass over the headers and returns a
new plain ``dict``, or raises :class:`~bridge._errors.RequestRejected` when the
request must be refused without calling the app (conflicting Content-Length,
too many copies of one header, CR/LF/NUL in a header value, a name or method
that is not a token, a head past the limits of ``bridge._limits``). It never
mutates the scope and never reads ``os.environ``: the environ depends on the
scope alone.

Every CGI value is a "WSGI string": the bytes of the request decoded as
latin-1. Paths are the subtle part (checklist A2.2-A2.5):

* ``root_path`` is removed from ``path`` only on a segment boundary, so
  ``/app`` never turns ``/application`` into ``lication``;
* when ``raw_path`` is present and agrees with ``path``, PATH_INFO comes from
  the percent-decoded raw bytes, which keeps octets that are not UTF-8
  (``/%FF`` gives ``"\\xff"``, not U+FFFD). When they disagree, middleware
  rewrote ``path`` and ``path`` wins.

What does not live here: ``wsgi.input`` (a stream over the ASGI receive
channel, in ``_wsgi_input.py``) and everything that waits.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote_to_bytes

from ._errors import RequestRejected
from ._http import (
    _GOOD_METHODS,
    _GOOD_REQUEST_NAMES,
    check_request_header_name,
    check_request_header_value,
    check_request_method,
)
from ._limits import (
    DEFAULT_DUPLICATE_HEADER_LIMIT,
    DEFAULT_MAX_HEADER_BYTES,
    DEFAULT_MAX_HEADER_COUNT,
    headers_too_large,
    target_too_long,
    too_many_headers,
)

Environ = dict[str, Any]

_DEFAULT_PORTS = {"http": "80", "https": "443", "ws": "80", "wss": "443"}


def _to_wsgi_str(text: str) -> str:
    """Re-encode decoded text as a WSGI string (its UTF-8 bytes read as latin-1)."""
    if text.isascii():
        return text
    return text.encode("utf-8", "surrogateescape").decode("latin-1")


def _strip_root(path: str, root: str) -> str | None:
    """``path`` without the ``root`` prefix, only on a segment boundary; else None."""
    if not root or not path.startswith(root):
        return None
    rest = path[len(root) :]
    if rest == "" or rest[0] == "/":
        return rest
    return None


def split_path(path: str, root_path: str, raw_path: bytes | None) -> tuple[str, str]:
    """Return ``(SCRIPT_NAME, PATH_INFO)`` as WSGI strings."""
    root = root_path.rstrip("/")
    script_name = _to_wsgi_str(root)
    if raw_path is not None and b"%" in raw_path:
        # Percent-encoded: the raw bytes may hold octets that `path` lost. Some
        # servers (uvicorn with --root-path) put root_path into `path` but not
        # into `raw_path`, so both forms count as agreeing.
        raw = unquote_to_bytes(raw_path)
        text = raw.decode("utf-8", "replace")
        full: str | None = None
        if text == path:
            full = raw.decode("latin-1")
            if root and not full.startswith(script_name):
                # root_path itself lost octets that are not UTF-8 ("/\x80" ->
                # "/\ufffd"): take SCRIPT_NAME from the raw bytes too, as many
                # segments as root_path has ("/" is never part of a UTF-8 sequence).
                prefix = b"/".join(raw.split(b"/")[: root.count("/") + 1])
                if prefix.decode("utf-8", "replace") == root:
                    script_name = prefix.decode("latin-1")
        elif root and root + text == path:
            full = script_name + raw.decode("latin-1")
        if full is not None:
            stripped = _strip_root(full, script_name)
            return script_name, full if stripped is None else stripped
    stripped = _strip_root(path, root)
    return script_name, _to_wsgi_str(path if stripped is None else stripped)


def _host_and_port(host_header: str | None, scheme: str) -> tuple[str, str]:
    default = _DEFAULT_PORTS.get(scheme, "80")
    if not host_header:
        return "localhost", default
    host = host_header.strip()
    if host.startswith("["):  # [v6]:port
        end = host.find("]")
        if end != -1:
            name, rest = host[: end + 1], host[end + 1 :]
            port = rest[1:] if rest.startswith(":") and rest[1:].isdigit() else default
            port = port if int(port) else default
            return name, port
    name, sep, port = host.rpartition(":")
    if sep and port.isdigit() and name:
        return name, port if int(port) else default  # never "0" (checklist A2.14)
    return host or "localhost", default


def build_environ(
    scope: Mapping[str, Any],
    base: Mapping[str, Any],
    *,
    duplicate_header_limit: int | None = DEFAULT_DUPLICATE_HEADER_LIMIT,
    max_header_count: int = DEFAULT_MAX_HEADER_COUNT,
    max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES,
) -> Environ:
    """Build the environ for one request.

    ``base`` holds the per-adapter constants (``wsgi.version``, ``wsgi.errors``,
    ``wsgi.multithread`` ...); it is copied, never changed. The caller adds
    ``wsgi.input``. The limits are checked on the way (``bridge._limits``);
    ``duplicate_header_limit=None`` counts no copies (asgiref's "off").
    """
    # None: no limit. The loop below then compares against a count no request
    # can reach (max_header_count bounds it first): still one comparison a header.
    dup_limit = sys.maxsize if duplicate_header_limit is None else duplicate_header_limit
    scheme: str = scope.get("scheme") or "http"
    root_path: str = scope.get("root_path", "") or ""
    path: str = scope["path"]
    query: bytes = scope.get("query_string", b"") or b""
    if len(path) + len(query) > max_header_bytes:
        raise target_too_long(len(path) + len(query), max_header_bytes)
    try:
        script_name, path_info = split_path(path, root_path, scope.get("raw_path"))
    except UnicodeEncodeError:  # lone surrogates: no bytes stand for them
        raise RequestRejected(400, f"path {path!r} is not valid Unicode") from None
    http_version: str = scope.get("http_version") or "1.1"
    method = scope["method"]
    if method not in _GOOD_METHODS:
        check_request_method(method)  # not a token: 400

    environ: Environ = dict(base)
    environ["REQUEST_METHOD"] = method
    environ["SCRIPT_NAME"] = script_name
    environ["PATH_INFO"] = path_info
    environ["QUERY_STRING"] = query.decode("latin-1")
    environ["SERVER_PROTOCOL"] = "HTTP/" + http_version
    environ["wsgi.url_scheme"] = scheme
    environ["asgi.scope"] = scope
    if scheme in ("https", "wss"):
        environ["HTTPS"] = "on"
    raw_path = scope.get("raw_path")
    if raw_path is not None:
        uri = raw_path.decode("latin-1")
        if query:
            uri = uri + "?" + environ["QUERY_STRING"]
        environ["REQUEST_URI"] = environ["RAW_URI"] = uri

    client = scope.get("client")
    if client is not None:
        environ["REMOTE_ADDR"] = str(client[0])
        if len(client) > 1 and client[1] is not None:
            environ["REMOTE_PORT"] = str(client[1])

    # One pass over the headers. Values are joined per name; `counts` enforces
    # the duplicate limit (asgiref's CVE-2025-14550 fix, checklist A2.13).
    # The size limits cost one addition and two comparisons per header.
    counts: dict[str, int] = {}
    content_lengths: list[str] = []
    host_header: str | None = None
    headers = scope.get("headers") or ()
    if type(headers) is not list and type(headers) is not tuple:
        headers = list(headers)
    if len(headers) > max_header_count:
        raise too_many_headers(len(headers), max_header_count)
    size = 0
    for raw_name, raw_value in headers:
        size += len(raw_name) + len(raw_value)
        if size > max_header_bytes:
            raise headers_too_large(max_header_bytes)
        try:
            name = raw_name.decode("latin-1").lower()
            value = raw_value.decode("latin-1")
        except AttributeError:
            raise TypeError(
                f"ASGI scope headers must be pairs of bytes, got {raw_name!r}: {raw_value!r}"
            ) from None
        if not value.isprintable():
            check_request_header_value(name, value)  # CR/LF/NUL: 400
        if name not in _GOOD_REQUEST_NAMES:
            if name[:1] == ":":
                continue  # pseudo-headers are the server's business
            check_request_header_name(name)  # not a token: 400
        if "_" in name:
            # Names with "_" would collide with "-" once turned into HTTP_*
            # keys (header spoofing, Django CVE-2015-0219), so they are
            # dropped like gunicorn does.
            continue
        seen = counts.get(name, 0) + 1
        counts[name] = seen
        if seen > dup_limit:
            raise RequestRejected(400, f"more than {dup_limit} {name!r} headers")
        if name == "content-length":
            content_lengths.extend(part.strip() for part in value.split(","))
            continue
        if name == "content-type":
            key = "CONTENT_TYPE"
        else:
            if name == "host" and host_header is None:
                host_header = value
            key = "HTTP_" + name.upper().replace("-", "_")
        if seen > 1 and key in environ:
            sep = "; " if name == "cookie" else ","
            environ[key] = environ[key] + sep + value
        else:
            environ[key] = value

    if content_lengths:
        first = content_lengths[0]
        if not first.isdigit() or not first.isascii():
            raise RequestRejected(400, f"invalid Content-Length {first!r}")
        if any(other != first for other in content_lengths[1:]):
            raise RequestRejected(400, "conflicting Content-Length headers")
        environ["CONTENT_LENGTH"] = str(int(first))

    server = scope.get("server")
    if server is not None and server[1] is not None:
        environ["SERVER_NAME"] = str(server[0])
        environ["SERVER_PORT"] = str(server[1])
    else:
        name, port = _host_and_port(host_header, scheme)
        environ["SERVER_NAME"] = name
        environ["SERVER_PORT"] = port
    return environ
