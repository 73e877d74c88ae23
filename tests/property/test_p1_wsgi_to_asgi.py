"""P1 (issue 4): a WSGI app called directly == the same app through WsgiToAsgi.

Hypothesis draws the request (method tokens, byte paths and roots with reserved,
percent-encoded and non-UTF-8 characters, raw latin-1 queries, mixed-case
repeated headers with Cookie and empty values, bodies from 0 B to 1 MiB split
into random ``http.request`` pieces, with or without Content-Length) and the app
(how it reads the body: read sizes, readline limits, early returns; any status,
header lists, chunks with empty ones, delivered as a list, a generator,
``write()`` or ``wsgi.file_wrapper``; ``exc_info`` replacement; an exception
before or after ``start_response`` or after the n-th chunk).

Direct run: the PEP 3333 environ a WSGI server builds for the request, served by
a minimal WSGI server (tests/property/drivers.py). Bridged run: the scope an ASGI
server builds for the same request, driven as ASGI through the P4 validator; the
app runs behind ``wsgiref.validate`` both times, so every environ the bridge
builds passes it. Compared: every PEP 3333 environ key the app observes and the
body it read, the status, the header multiset and the body bytes.

Documented normalisations (docs/compatibility.md, "Documented normalisations"):
N1 header names are lowercased; N11 spaces around header values are stripped;
N2 a list/tuple response gains content-length (not HEAD/204/304); N4 an exception
before the first body byte leaves the ASGI call with nothing sent (the ASGI server answers 500).
"""

from __future__ import annotations

import asyncio
from typing import Any
from wsgiref.validate import validator

import pytest
from drivers import (
    PROPERTY_TIMEOUT,
    drive_asgi,
    environ_for,
    normalised,
    note_classes,
    scope_for,
    serve_wsgi,
)
from hypothesis import example, given
from strategies import Request, WsgiBehaviour, make_wsgi_app, requests, wsgi_behaviours

from bridge import WsgiToAsgi

pytestmark = [
    pytest.mark.timeout(PROPERTY_TIMEOUT),
    pytest.mark.filterwarnings("ignore::wsgiref.validate.WSGIWarning"),
]


@given(requests(), wsgi_behaviours)
@example(  # a failure after the first non-empty write(): cut, never completed
    Request("POST", b"", b"/", b"", [], b"abc", [b"a", b"", b"bc"], False, "http", "1.1"),
    WsgiBehaviour(200, "OK", [], [b"", b"x", b"y"], "write", None, None, 2),
)
@example(  # HEAD and 204 never gain a content-length
    Request("HEAD", b"", b"/", b"", [], b"", [b""], True, "http", "1.1"),
    WsgiBehaviour(204, "No Content", [], [], "list", None, None, None),
)
@example(  # an empty Content-Type is passed on as CONTENT_TYPE "" (N10 is AsgiToWsgi's)
    Request("GET", b"", b"", b"", [(b"Content-Type", b"")], b"", [b""], False, "http", "1.0"),
    WsgiBehaviour(200, "OK", [], [], "list", None, None, None),
)
def test_p1_wsgi_app_direct_and_through_wsgi_to_asgi(r: Request, b: WsgiBehaviour) -> None:
    seen_direct: list[tuple[dict[str, Any], bytes]] = []
    seen_bridged: list[tuple[dict[str, Any], bytes]] = []
    direct = serve_wsgi(validator(make_wsgi_app(b, seen_direct)), environ_for(r))
    bridge = WsgiToAsgi(validator(make_wsgi_app(b, seen_bridged)), workers=2)
    bridged = asyncio.run(drive_asgi(bridge, scope_for(r), r.parts))

    assert len(seen_direct) == len(seen_bridged) == 1
    assert seen_bridged[0][0] == seen_direct[0][0]
    assert seen_bridged[0][1] == seen_direct[0][1]

    outcome = "500" if direct.failed_early else "cut" if direct.error else "ok"
    note_classes(r, b.style, b.fail, outcome)
    if direct.failed_early:  # N4: nothing sent, the exception leaves the ASGI call
        assert bridged.error is not None and bridged.status is None
        return
    assert bridged.status == direct.status
    assert bridged.body == direct.body
    # A6.2: one body message per non-empty chunk; only the final one may be empty.
    assert all(m["body"] for m in bridged.sent[1:] if m.get("more_body"))
    assert bridged.complete == (direct.error is None)
    # Issue 13: an exception reported with exc_info before any byte went out replaces
    # the response and is then raised from the ASGI call, once that response is whole.
    assert bridged.error is (direct.error or direct.reported)
    got = sorted(
        (k.decode("latin-1"), v.decode("latin-1"))
        for k, v in bridged.headers
        if k != b"content-length"
    )
    assert got == normalised(direct.headers)  # N1
    # N2 (a list gains content-length) needs the list itself; behind wsgiref.validate the
    # bridge sees an iterator, so here a content-length may only ever be the right one.
    lengths = [v for k, v in bridged.headers if k == b"content-length"]
    assert lengths in ([], [str(len(direct.body)).encode()])
