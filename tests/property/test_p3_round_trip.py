"""P3 (issue 4): round trips through both bridges change nothing but the documented normalisations.

* ``AsgiToWsgi(WsgiToAsgi(w, workers=1))`` is compared with ``w``, both served
  the same drawn environ by the same little WSGI server (behind
  ``wsgiref.validate`` on both sides of the nest);
* ``WsgiToAsgi(AsgiToWsgi(a), workers=1)`` is compared with ``a``, both driven
  with the same drawn scope and ``http.request`` messages.

Between the two bridges every message passes the P4 ASGI validator
(tests/asgi_validator.py), and every environ the inner WsgiToAsgi builds passes
``wsgiref.validate``. Compared: status, header multiset, body bytes, where the
response failed, and what the inner app observed (its PEP 3333 environ keys and
the body it read; or its scope keys and the bytes ``receive()`` gave it).

Documented normalisations (also in docs/compatibility.md, "Documented normalisations"):

N1. Response header names come out lowercased (ASGI carries lowercase names).
N2. A response whose body is known in full (a list or tuple, or an ASGI app
    whose first body message is its last) gains a ``content-length`` header;
    not for HEAD, 204 or 304.
N3. The reason phrase is not carried: ASGI has only the status code, so the
    WSGI side gets ``http.HTTPStatus``'s phrase (``"NNN Unknown"`` for codes it
    does not know).
N4. A failure before the first body byte becomes ``500 Internal Server Error``
    (``text/plain``, sent with ``exc_info``), as a WSGI server answers an app
    that raises before its headers went out; a failure after the body began
    ends the response without completing it, on both sides.
N5. Empty body chunks are not sent, and chunk boundaries are not kept: the
    body bytes are the same, split differently.
N6. WSGI round trip: a request header that was repeated reaches the inner app
    as one comma-joined ``HTTP_*`` value (``"; "`` for Cookie) - exactly what a
    WSGI server gives the outer app too.
N10. An empty ``CONTENT_TYPE`` (or ``CONTENT_LENGTH``) is not passed on: the
    inner app sees the key absent, as for a request without that header.
N7. ASGI round trip, scope: repeated request headers arrive joined into one
    header (``,``; ``"; "`` for cookie) in first-seen order, ``content-type`` and
    ``content-length`` first; header names containing ``_`` and pseudo-headers
    are dropped; ``asgi.spec_version`` becomes ``"2.4"``; ``extensions`` lists
    what AsgiToWsgi implements (``http.response.pathsend``); a
    ``wsgi_environ`` key is added.
N8. ASGI round trip, receive(): the body arrives in ``chunk_size`` (64 KiB)
    reads of the WSGI input, not in the client's pieces; a request without a
    body is one empty ``http.request``.
N9. ASGI round trip: ``http.response.pathsend`` reaches the outer server as
    ``http.response.body`` messages carrying the file's bytes (WsgiToAsgi
    streams ``wsgi.file_wrapper``; it does not advertise pathsend).
N11. Spaces and tabs around a response header value are stripped (RFC 9110
    section 5.5; h11 refuses them): ``" a=1"`` comes out as ``"a=1"``.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import Iterator
from typing import Any
from wsgiref.validate import validator

import pytest
from asgi_validator import AsgiValidator, validating_app
from drivers import (
    PROPERTY_TIMEOUT,
    body_of,
    drive_asgi,
    environ_for,
    environ_view,
    normalised,
    note_classes,
    scope_for,
    scope_view,
    serve_wsgi,
)
from hypothesis import example, given
from strategies import (
    AsgiBehaviour,
    Boom,
    Request,
    WsgiBehaviour,
    asgi_behaviours,
    make_asgi_app,
    make_wsgi_app,
    requests,
    wsgi_behaviours,
)

from bridge import AsgiToWsgi, WsgiToAsgi

pytestmark = [
    pytest.mark.timeout(PROPERTY_TIMEOUT),
    pytest.mark.filterwarnings("ignore::wsgiref.validate.WSGIWarning"),
]


# -- the WSGI side ---------------------------------------------------------------------


class Dispatch:
    """One AsgiToWsgi(WsgiToAsgi(...)) nest for the whole module; the inner app is swapped."""

    def __init__(self) -> None:
        self.app: Any = None
        self.validators: list[AsgiValidator] = []
        inner = WsgiToAsgi(self.call, workers=1)
        self.nest = AsgiToWsgi(validating_app(inner, self.validators), lifespan="off")

    def call(self, environ: dict[str, Any], start_response: Any) -> Any:
        return self.app(environ, start_response)


@pytest.fixture(scope="module")
def wsgi_nest() -> Iterator[Dispatch]:
    dispatch = Dispatch()
    yield dispatch
    dispatch.nest.close()


@given(requests(), wsgi_behaviours)
@example(
    Request("GET", b"", b"/", b"", [], b"", [b""], True, "http", "1.1"),
    WsgiBehaviour(200, "OK", [], [b"a", b"", b"b"], "generator", None, None, 1),
)
@example(  # a SCRIPT_NAME that is not UTF-8 came back doubled: "/\xef\xbf\xbd" + "/\x80"
    Request("GET", b"/\x80", b"", b"", [], b"", [b""], False, "http", "1.0"),
    WsgiBehaviour(200, "OK", [], [], "list", None, None, None),
)
def test_p3_wsgi_app_through_both_bridges(
    wsgi_nest: Dispatch, r: Request, b: WsgiBehaviour
) -> None:
    seen_direct: list[tuple[dict[str, Any], bytes]] = []
    seen_bridged: list[tuple[dict[str, Any], bytes]] = []
    direct = serve_wsgi(validator(make_wsgi_app(b, seen_direct)), environ_for(r))
    wsgi_nest.app = validator(make_wsgi_app(b, seen_bridged))
    wsgi_nest.validators.clear()
    bridged = serve_wsgi(validator(wsgi_nest.nest), environ_for(r))

    # What the inner app observed: the same environ keys and the same body.
    assert len(seen_bridged) == len(seen_direct) == 1
    assert seen_bridged[0][0] == environ_view(seen_direct[0][0])  # N10
    assert seen_bridged[0][1] == seen_direct[0][1]
    assert len(wsgi_nest.validators) == 1  # every ASGI message in between was validated

    note_classes(
        r, b.style, b.fail, "500" if direct.failed_early else "cut" if direct.error else "ok"
    )
    if direct.failed_early:  # N4
        assert bridged.status == 500 and not bridged.failed_early
        assert bridged.body == b"Internal Server Error"
        return
    assert bridged.status == direct.status
    assert bridged.error is direct.error
    assert bridged.body == direct.body
    assert normalised(bridged.headers) == normalised(direct.headers)  # N1, N2
    # Issue 13: an exception reported with exc_info before any byte reaches the
    # host; through both bridges it comes from close(), after the replaced response.
    # (When the app fails later on, that failure is what both hosts see.)
    if direct.error is None:
        assert (bridged.reported or bridged.close_error) is (
            direct.reported or direct.close_error
        )


def test_split_path_takes_a_non_utf8_root_from_the_raw_path() -> None:
    """Regression (found by P3): root_path "/\ufffd" for raw b"/%80/x" gave SCRIPT_NAME
    "/\xef\xbf\xbd" and PATH_INFO "/\x80/x", the root twice over."""
    from bridge._environ import split_path

    assert split_path("/\ufffd/x", "/\ufffd", b"/%80/x") == ("/\x80", "/x")
    assert split_path("/\ufffd", "/\ufffd/", b"/%80") == ("/\x80", "")
    assert split_path("/a/\ufffd", "/a", b"/a/%80") == ("/a", "/\x80")


# -- the ASGI side ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def file_path() -> Iterator[str]:
    fd, path = tempfile.mkstemp(prefix="p3-pathsend-")
    os.close(fd)
    yield path
    os.unlink(path)


@given(requests(), asgi_behaviours)
def test_p3_asgi_app_through_both_bridges(file_path: str, r: Request, b: AsgiBehaviour) -> None:
    with open(file_path, "wb") as file:
        file.write(b"".join(b.chunks))
    seen_direct: list[Any] = []
    seen_bridged: list[Any] = []
    validators: list[AsgiValidator] = []
    direct = asyncio.run(
        drive_asgi(make_asgi_app(b, seen_direct, file_path), scope_for(r), r.parts)
    )
    inner = AsgiToWsgi(
        validating_app(make_asgi_app(b, seen_bridged, file_path), validators), lifespan="off"
    )
    try:
        bridged = asyncio.run(
            drive_asgi(WsgiToAsgi(validator(inner), workers=1), scope_for(r), r.parts)
        )
    finally:
        inner.close()

    assert len(seen_direct) == len(seen_bridged) == 1 == len(validators)
    (d_scope, d_received), (b_scope, b_received) = seen_direct[0], seen_bridged[0]
    assert scope_view(b_scope) == scope_view(d_scope)  # N7
    d_body, d_done = body_of(d_received)
    b_body, b_done = body_of(b_received)
    if b.read == "all":
        assert b_body == d_body == r.body and b_done and d_done  # N8
    elif b.read == "first":
        assert d_body.startswith(b_body) or b_body.startswith(d_body)  # N8: other chunking

    early = direct.error is not None and not direct.body
    note_classes(r, b.style, b.fail, "500" if early else "cut" if direct.error else "ok")
    if early:  # N4: failed before any body byte
        assert bridged.body in {b"", b"Internal Server Error"}
        # Issue 13: the app's own exception reaches the ASGI server, after the 500
        # that AsgiToWsgi sent with exc_info went out whole.
        assert bridged.error is Boom
        assert bridged.status is None or (bridged.status == 500 and bridged.complete)
        return
    assert bridged.status == direct.status
    assert bridged.error is direct.error
    assert bridged.complete == direct.complete
    assert bridged.body == direct.body  # N5, N9
    assert sorted(h for h in bridged.headers if h[0] != b"content-length") == sorted(
        h for h in direct.headers if h[0] != b"content-length"
    )
