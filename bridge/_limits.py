"""Request and response size limits: their defaults, and the refusals they cause.

Theory of operation
-------------------
Both adapters take the same keyword options (``max_body_size``,
``max_header_count``, ``max_header_bytes``, ``max_response_header_bytes``;
``WsgiToAsgi`` also ``duplicate_header_limit``). :func:`check_limits` validates
them once, in ``__init__``; ``max_body_size`` and ``duplicate_header_limit``
may be None, for no limit. The per-request checks are plain integer
comparisons written inline where the pure translators already walk the headers
(``_environ.build_environ``, ``_scope.build_scope``, ``_http``'s header
encoders), so a request that stays within the limits costs one addition and
one comparison per header and nothing is buffered or copied. Only when a limit
is crossed is one of the functions below called, to build the refusal:

* a request head too large -> ``RequestRejected`` 414 (target) or 431 (headers),
  answered without calling the app;
* more than ``duplicate_header_limit`` copies of one request header ->
  ``RequestRejected`` 400, without calling the app (checklist A2.13);
* a declared Content-Length above ``max_body_size`` -> ``RequestRejected`` 413,
  without calling the app;
* a body without a declared length that grows past ``max_body_size`` ->
  :class:`~bridge._errors.RequestBodyTooLarge` for ``wsgi.input`` readers, a
  clean ``http.disconnect`` for ASGI apps (each adapter then answers 413 if the
  response has not started);
* response headers above ``max_response_header_bytes`` -> ``ValueError`` inside
  the app (its ``start_response`` or ``send``), so nothing is forwarded and the
  request ends as a 500.

Sizes count the bytes of header names and values (no separators), and the path
plus query string for the request target.

Nothing here does I/O or keeps state.
"""

from __future__ import annotations

from ._errors import RequestBodyTooLarge, RequestRejected

#: No limit on the request body: the bridge streams it and never holds more
#: than a few chunks, so size is the app's (or the server's) policy.
DEFAULT_MAX_BODY_SIZE: int | None = None
#: Apache (LimitRequestFields), gunicorn (limit_request_fields) and Tomcat use 100.
DEFAULT_MAX_HEADER_COUNT = 100
#: Twice nginx's largest default request head (4 x 8 KiB buffers).
DEFAULT_MAX_HEADER_BYTES = 64 * 1024
#: Well above what nginx (4-8 KiB proxy buffer) or Node (16 KiB) pass on.
DEFAULT_MAX_RESPONSE_HEADER_BYTES = 64 * 1024
#: asgiref's fix for CVE-2025-14550.
DEFAULT_DUPLICATE_HEADER_LIMIT = 100


#: The options that may be None, meaning "no limit".
NONE_MEANS_NO_LIMIT = frozenset({"max_body_size", "duplicate_header_limit"})


def check_limits(**limits: int | None) -> None:
    """Refuse option values that are not positive ints.

    ``max_body_size`` and ``duplicate_header_limit`` may also be None: no limit
    (asgiref's way to switch its duplicate header limit off).
    """
    for name, value in limits.items():
        if value is None and name in NONE_MEANS_NO_LIMIT:
            continue
        if type(value) is not int or value < 1:
            allowed = "a positive int or None" if name in NONE_MEANS_NO_LIMIT else "a positive int"
            raise ValueError(f"{name} must be {allowed}, got {value!r}")


def too_many_headers(count: int, limit: int) -> RequestRejected:
    return RequestRejected(431, f"{count} request headers: more than the limit of {limit}")


def headers_too_large(limit: int) -> RequestRejected:
    return RequestRejected(431, f"request headers larger than {limit} bytes")


def target_too_long(size: int, limit: int) -> RequestRejected:
    return RequestRejected(414, f"request target of {size} bytes: more than {limit}")


def check_declared_length(length: int | None, limit: int | None) -> None:
    """Refuse (413) a declared body length over ``max_body_size`` before the app runs."""
    if limit is not None and length is not None and length > limit:
        raise RequestRejected(
            413, f"request body of {length} bytes is larger than the limit of {limit}"
        )


def body_grew_too_large(limit: int) -> RequestBodyTooLarge:
    return RequestBodyTooLarge(f"request body is larger than the limit of {limit} bytes")


def response_headers_too_large(limit: int) -> ValueError:
    return ValueError(
        f"response headers larger than max_response_header_bytes={limit}; not forwarded"
    )
