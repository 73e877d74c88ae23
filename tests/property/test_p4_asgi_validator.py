"""P4's ASGI validator (tests/asgi_validator.py) on its own: it accepts what the spec allows
and rejects each kind of broken sequence, so a bridge test that passes through it means
something."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from asgi_scope import http_scope
from asgi_validator import AsgiValidator, AsgiViolation, check_scope, validate_sequence

Message = dict[str, Any]

START: Message = {"type": "http.response.start", "status": 200, "headers": [(b"a", b"b")]}
MORE: Message = {"type": "http.response.body", "body": b"x", "more_body": True}
LAST: Message = {"type": "http.response.body", "body": b"y", "more_body": False}
REQ_LAST: Message = {"type": "http.request", "body": b"q", "more_body": False}
REQ_MORE: Message = {"type": "http.request", "body": b"q", "more_body": True}
DISC: Message = {"type": "http.disconnect"}
PATHSEND: Message = {"type": "http.response.pathsend", "path": "/etc/hostname"}
TRAILERS: Message = {"type": "http.response.trailers"}
T_START: Message = {**START, "trailers": True}
L_UP: Message = {"type": "lifespan.startup"}
L_OK: Message = {"type": "lifespan.startup.complete"}
L_FAIL: Message = {"type": "lifespan.startup.failed", "message": "x"}
LIFESPAN = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}


def s(m: Message) -> tuple[str, Message]:
    return ("send", m)


def r(m: Message) -> tuple[str, Message]:
    return ("receive", m)


def with_pathsend() -> dict[str, Any]:
    return http_scope(extensions={"http.response.pathsend": {}})


GOOD: list[tuple[str, dict[str, Any], list[tuple[str, Message]]]] = [
    ("start+final", http_scope(), [s(START), s(LAST)]),
    ("no body key means empty final", http_scope(), [s(START), s({"type": "http.response.body"})]),
    ("streamed", http_scope(), [r(REQ_MORE), r(REQ_LAST), s(START), s(MORE), s(MORE), s(LAST)]),
    ("disconnects repeat", http_scope(), [r(REQ_LAST), s(START), s(LAST), r(DISC), r(DISC)]),
    ("pathsend", with_pathsend(), [s(START), s(PATHSEND)]),
    (
        "trailers",
        http_scope(),
        [
            s({**START, "trailers": True}),
            s(LAST),
            s({"type": "http.response.trailers", "headers": [], "more_trailers": True}),
            s({"type": "http.response.trailers", "headers": [(b"x-sum", b"1")]}),
        ],
    ),
    (
        "lifespan",
        LIFESPAN,
        [
            r({"type": "lifespan.startup"}),
            s({"type": "lifespan.startup.complete"}),
            r({"type": "lifespan.shutdown"}),
            s({"type": "lifespan.shutdown.failed", "message": "bye"}),
        ],
    ),
]


@pytest.mark.parametrize(("name", "scope", "events"), GOOD, ids=[g[0] for g in GOOD])
def test_validator_accepts_spec_sequences(
    name: str, scope: dict[str, Any], events: list[tuple[str, Message]]
) -> None:
    validator = validate_sequence(scope, events)
    assert validator.complete
    assert len(validator.events) == len(events)


BAD: list[tuple[str, dict[str, Any], list[tuple[str, Message]], str]] = [
    ("body before start", http_scope(), [s(LAST)], "before http.response.start"),
    ("start twice", http_scope(), [s(START), s(START)], "twice"),
    ("status str", http_scope(), [s({**START, "status": "200"})], "status"),
    ("status bool", http_scope(), [s({**START, "status": True})], "status"),
    ("status out of range", http_scope(), [s({**START, "status": 600})], "status"),
    ("headers not list", http_scope(), [s({**START, "headers": {b"a": b"b"}})], "list"),
    ("header str", http_scope(), [s({**START, "headers": [("a", "b")]})], "bytes"),
    ("header triple", http_scope(), [s({**START, "headers": [(b"a", b"b", b"c")]})], "2-item"),
    ("header upper", http_scope(), [s({**START, "headers": [(b"A", b"b")]})], "lowercased"),
    ("pseudo header", http_scope(), [s({**START, "headers": [(b":status", b"1")]})], "pseudo"),
    ("body str", http_scope(), [s(START), s({**LAST, "body": "y"})], "'body'"),
    ("more_body int", http_scope(), [s(START), s({**LAST, "more_body": 0})], "more_body"),
    ("body after final", http_scope(), [s(START), s(LAST), s(MORE)], "after the final"),
    ("unknown type", http_scope(), [s({"type": "http.response.nope"})], "unknown"),
    ("not a dict", http_scope(), [s([("type", "x")])], "not a dict"),  # type: ignore[list-item]
    ("never finished", http_scope(), [s(START), s(MORE)], "without finishing"),
    ("never started", http_scope(), [], "without sending http.response.start"),
    ("pathsend not advertised", http_scope(), [s(START), s(PATHSEND)], "not advertised"),
    ("pathsend after body", with_pathsend(), [s(START), s(MORE), s(PATHSEND)], "after a body"),
    ("pathsend relative", with_pathsend(), [s(START), s({**PATHSEND, "path": "a"})], "absolute"),
    ("body after pathsend", with_pathsend(), [s(START), s(PATHSEND), s(LAST)], "after the final"),
    ("trailers unannounced", http_scope(), [s(START), s(LAST), s(TRAILERS)], "without trailers"),
    ("trailers before final", http_scope(), [s(T_START), s(MORE), s(TRAILERS)], "before the final"),
    ("trailers missing", http_scope(), [s(T_START), s(LAST)], "without finishing"),
    ("request after final", http_scope(), [r(REQ_LAST), r(REQ_LAST)], "after the final one"),
    ("request after disconnect", http_scope(), [r(DISC), r(REQ_MORE)], "after http.disconnect"),
    ("request body str", http_scope(), [r({**REQ_LAST, "body": "q"})], "'body'"),
    ("request unknown", http_scope(), [r({"type": "websocket.connect"})], "unknown"),
    ("lifespan answer first", LIFESPAN, [s(L_OK)], "before"),
    ("lifespan answered twice", LIFESPAN, [r(L_UP), s(L_OK), s(L_FAIL)], "twice"),
    ("lifespan unanswered", LIFESPAN, [r(L_UP)], "never answered"),
    ("lifespan failed message", LIFESPAN, [r(L_UP), s({**L_FAIL, "message": b"x"})], "message"),
    ("lifespan http message", LIFESPAN, [s(START)], "unknown lifespan"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "scope", "events", "match"), BAD, ids=[b[0] for b in BAD])
def test_validator_rejects_broken_sequences(
    name: str, scope: dict[str, Any], events: list[tuple[str, Message]], match: str
) -> None:
    with pytest.raises(AsgiViolation, match=match):
        validate_sequence(scope, events)


BAD_SCOPES = [
    ("no asgi", {k: v for k, v in http_scope().items() if k != "asgi"}, "asgi"),
    ("lowercase method", http_scope(method="get"), "method"),
    ("path bytes", http_scope(path=b"/"), "path"),
    ("raw_path str", http_scope(raw_path="/"), "raw_path"),
    ("query str", http_scope(query_string="a=1"), "query_string"),
    ("http_version 2.0", http_scope(http_version="2.0"), "http_version"),
    ("header str", http_scope(headers=[("host", "x")]), "bytes"),
    ("client port str", http_scope(client=("1.2.3.4", "80")), "port"),
    ("root outside path", http_scope(root_path="/app", path="/other"), "root_path"),
    ("no headers", {k: v for k, v in http_scope().items() if k != "headers"}, "headers"),
    ("websocket", http_scope(type="websocket"), "type"),
]


@pytest.mark.parametrize(("name", "scope", "match"), BAD_SCOPES, ids=[b[0] for b in BAD_SCOPES])
def test_validator_rejects_broken_scopes(name: str, scope: dict[str, Any], match: str) -> None:
    with pytest.raises(AsgiViolation, match=match):
        check_scope(scope)


def test_wrap_checks_before_the_message_goes_out() -> None:
    """A bad send is refused before the real send sees it; received messages are checked."""
    passed: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": "not bytes", "more_body": False}

    async def send(message: Message) -> None:
        passed.append(message)

    async def main() -> None:
        validator = AsgiValidator(http_scope())
        checked_receive, checked_send = validator.wrap(receive, send)
        await checked_send(START)
        with pytest.raises(AsgiViolation, match="twice"):
            await checked_send(START)
        with pytest.raises(AsgiViolation, match="'body'"):
            await checked_receive()

    anyio.run(main)
    assert passed == [START]
