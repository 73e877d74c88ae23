"""P7 (issue 13 point 6): round trips under the frameworks' own test clients are identities.

* **P7a, the ASGI side.** Hypothesis draws a small Starlette app: a lifespan that
  yields a drawn state dict, or none; routes that answer with a drawn status, body
  and headers (repeated ones too), or stream drawn chunks (``StreamingResponse``,
  possibly failing after some of them), or raise a drawn exception (ValueError,
  KeyError, RuntimeError or the app's own class, with a drawn message) before
  answering; each answer with up to three ``BackgroundTasks`` (one may raise). The
  description is built twice, as fresh objects, and run alone and as
  ``WsgiToAsgi(AsgiToWsgi(app))`` under ``with TestClient(app,
  raise_server_exceptions=<drawn>)``, for a drawn sequence of one to three requests
  (method, path, query, a header sent up to three times, body).
* **P7b, the WSGI side.** A Flask app drawn the same way (views returning drawn
  bodies, statuses and headers, streaming plain generators or
  ``stream_with_context`` ones, possibly failing part way, or raising; an
  ``after_request`` and a ``teardown_request`` hook that record), with
  ``app.testing = True`` so exceptions propagate, run alone and with
  ``app.wsgi_app = AsgiToWsgi(WsgiToAsgi(app.wsgi_app))`` under
  ``app.test_client()``, buffered or not.

Compared, between the app alone and the round trip, call by call: what the call
raised (type, message, and whether it is the very exception object the app
raised), status code, body bytes, response headers, what the app saw of the
request (method, path, query, header, body, ``request.state``), and the app's
events as they stand when the call returns: lifespan startup before the first
request, background tasks finished (each takes a few turns of the loop), the
hooks' records; then lifespan shutdown at the TestClient's exit.

Differences allowed, each a documented normalisation (docs/compatibility.md):

* the reason phrase (N3, "What WSGI cannot carry"): only status codes are compared;
* a request header sent more than once reaches the app as one comma-joined header
  (N6/N7, "What WSGI cannot carry": an environ has one ``HTTP_*`` key per name), so
  what the app saw of it is compared comma-joined;
* response header names are compared lowercased (N1: Flask alone keeps
  ``X-Mixed``) and values with spaces and tabs around them stripped (N11);
  ``content-length`` and ``date`` are left out of the header comparison, but a
  ``content-length`` both sides have must be the same, and one that only one side
  has must be that side's body length (N2; not checked for HEAD, where it is the
  length of the body left out);
* N4, a stream that fails before its first non-empty chunk: PEP 3333 holds a
  response's headers until its first non-empty body byte, so behind a WSGI hop the
  failure comes before the headers went out and is a 500. P7a,
  ``raise_server_exceptions=False``: alone, the TestClient returns the route's own
  status and headers with an empty body; through the round trip a 500 (the
  bridge's ``Internal Server Error``, or TestClient's empty one when the ASGI call
  raised with nothing sent). P7b, unbuffered client: alone, Werkzeug's test client
  hands out the headers before iterating, so reading the body raises; through the
  round trip AsgiToWsgi's 500 goes with ``exc_info`` and Werkzeug's
  ``start_response`` raises it from ``get()``. The exception is the same object,
  and the events are the same;
* P7b, unbuffered client and a ``stream_with_context`` view: the hooks' records
  are compared once the body was read and closed, not when ``get()`` returns. Its
  second teardown (Flask 3.1 runs one as the view returns and one as the generator
  ends) comes when the generator ends, which the bridge's read-ahead may reach
  before the client reads; alone it waits for the client.

A failing lifespan startup or shutdown raises the app's own exception from
TestClient, alone and through the round trip (the property found both
differences: a ``RuntimeError`` wrapper at startup, nothing at shutdown; fixed).

Each example starts and stops an AsgiToWsgi loop thread; each adapter is closed
(after the TestClient's lifespan shutdown, for P7a) and no loop thread may
outlive its example. Bounded by the module's timeout; the profile's example
count (about 20 ms an example: the file runs in seconds on ``ci``).
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import anyio.lowlevel
import pytest
from conftest import loop_threads
from drivers import PROPERTY_TIMEOUT
from flask import Flask, Response, request, stream_with_context
from hypothesis import event, example, given
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.background import BackgroundTasks
from starlette.requests import Request
from starlette.responses import Response as StarletteResponse
from starlette.responses import StreamingResponse
from starlette.routing import Route

from bridge import AsgiToWsgi, WsgiToAsgi

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette's notice about httpx
    from starlette.testclient import TestClient

pytestmark = pytest.mark.timeout(PROPERTY_TIMEOUT)

ERROR_BODY = b"Internal Server Error"  # the 500 of AsgiToWsgi and of Starlette


class Custom(Exception):
    """An app's own exception class."""


ERRORS: dict[str, type[Exception]] = {
    "ValueError": ValueError,
    "KeyError": KeyError,
    "RuntimeError": RuntimeError,
    "Custom": Custom,
}


@dataclass(frozen=True)
class Failure:
    kind: str  # a key of ERRORS
    message: str

    def make(self) -> Exception:
        return ERRORS[self.kind](self.message)


failures = st.builds(
    Failure,
    st.sampled_from(sorted(ERRORS)),
    st.text(alphabet="abc xyz-:'\"é", max_size=8),
)

#: Printable ASCII: Starlette's test client decodes header values as UTF-8, and
#: Starlette encodes them as latin-1, so only ASCII is the same on both. Some are
#: padded with spaces or tabs, which the round trip strips (N11).
padding = st.sampled_from(["", "", "", " ", "\t"])
header_values = st.builds(
    "{}{}{}".format,
    padding,
    st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=12),
    padding,
)
#: Well-formed cookies: Werkzeug's test client fails on an empty Set-Cookie (StopIteration
#: from its own cookie parsing, after the response), whoever sent it.
cookies = st.builds(
    "{}={}{}".format,
    st.text(alphabet="abcxyz", min_size=1, max_size=4),
    st.text(alphabet="abc019-_", max_size=4),
    st.sampled_from(["", "; Path=/", "; Expires=Wed, 21 Oct 2026 07:28:00 GMT", "; HttpOnly"]),
)
response_headers = st.lists(
    st.tuples(st.sampled_from(["x-a", "x-b", "cache-control", "x-Mixed"]), header_values)
    | st.tuples(st.just("set-cookie"), cookies),
    max_size=4,
)
statuses = st.one_of(
    st.sampled_from([200, 201, 204, 299, 304, 404, 418, 500, 503, 599]), st.integers(200, 599)
)
bodies = st.binary(max_size=64)
chunk_lists = st.lists(st.binary(max_size=16), max_size=4)
tails = st.text(alphabet="az09-._~ é☃+;=", max_size=8)
queries = st.text(alphabet="az09=&+%é", max_size=8)
drawn_header = st.lists(
    st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=6),
    max_size=3,
)


def words(values: list[str]) -> str | None:
    """N6/N7: what an app sees of a header sent once per value, comma-joined."""
    return ",".join(values) if values else None


def n11(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """N1, N11 and the documented exclusions; order kept within each name."""
    kept = [
        (name.lower(), value.strip(" \t"))
        for name, value in headers
        if name.lower() not in {"content-length", "date"}
    ]
    return sorted(kept, key=lambda pair: pair[0])  # stable: repeated headers keep their order


def check_content_length(
    mine: list[tuple[str, str]],
    my_body: bytes,
    theirs: list[tuple[str, str]],
    their_body: bytes,
    head: bool,
) -> None:
    """N2: a content-length both have is the same; one only the round trip (or only the
    app alone) has is its own body's length (N2 adds none for HEAD, 204 or 304)."""
    alone = [v for k, v in mine if k.lower() == "content-length"]
    bridged = [v for k, v in theirs if k.lower() == "content-length"]
    if alone and bridged:
        assert alone == bridged
    elif not head:  # a HEAD response's content-length is that of the body it leaves out
        assert alone in ([], [str(len(my_body))])
        assert bridged in ([], [str(len(their_body))])


def fails_before_its_first_byte(route: AsgiRoute | FlaskView) -> bool:
    """A stream that raises before any non-empty chunk (N4, N5)."""
    return (
        route.kind == "stream"
        and route.fail_after is not None
        and not any(route.chunks[: route.fail_after])
    )


# -- P7a: Starlette under its TestClient ------------------------------------------


@dataclass(frozen=True)
class AsgiRoute:
    kind: str  # "respond", "stream" or "raise"
    status: int
    headers: list[tuple[str, str]]
    media_type: str | None
    body: bytes
    chunks: list[bytes]
    fail_after: int | None  # stream: raise after this many chunks
    failure: Failure
    tasks: int  # background tasks, each appending to the events
    failing_task: int | None  # the index of the one that raises


@st.composite
def asgi_routes(draw: st.DrawFn) -> AsgiRoute:
    kind = draw(st.sampled_from(["respond", "stream", "raise"]))
    chunks = draw(chunk_lists)
    tasks = draw(st.integers(0, 3))
    return AsgiRoute(
        kind=kind,
        status=draw(statuses),
        headers=draw(response_headers),
        media_type=draw(st.sampled_from([None, "text/plain", "application/octet-stream"])),
        body=draw(bodies),
        chunks=chunks,
        fail_after=draw(st.none() | st.integers(0, len(chunks))) if kind == "stream" else None,
        failure=draw(failures),
        tasks=tasks,
        failing_task=draw(st.none() | st.integers(0, tasks - 1)) if tasks else None,
    )


@dataclass(frozen=True)
class AsgiSpec:
    lifespan: str  # "none", "state", "fails at startup" or "fails at shutdown"
    state: dict[str, Any]
    lifespan_failure: Failure
    routes: list[AsgiRoute]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.text(max_size=4),
    lambda inner: st.lists(inner, max_size=3),
    max_leaves=4,
)
asgi_specs = st.builds(
    AsgiSpec,
    lifespan=st.sampled_from(["none", "state"]),
    state=st.dictionaries(
        st.text(alphabet="abcxyz_", min_size=1, max_size=5), json_values, max_size=3
    ),
    lifespan_failure=failures,
    routes=st.lists(asgi_routes(), min_size=1, max_size=3),
)


NOT_FOUND = -1


@dataclass(frozen=True)
class Call:
    route: int  # an index into the routes (modulo their number); NOT_FOUND: no route (404)
    method: str
    tail: str
    query: str
    header: list[str]
    body: bytes
    buffered: bool  # P7b only

    def target(self, routes: int) -> int | None:
        return None if self.route == NOT_FOUND else self.route % routes

    def url(self, prefix: str, routes: int) -> str:
        index = self.target(routes)
        path = f"/missing/{self.tail}" if index is None else f"/{prefix}{index}/{self.tail}"
        return path + (f"?{self.query}" if self.query else "")


calls = st.builds(
    Call,
    route=st.sampled_from([0, 1, 2, 0, 1, 2, NOT_FOUND]),
    method=st.sampled_from(["GET", "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]),
    tail=tails,
    query=queries,
    header=drawn_header,
    body=bodies,
    buffered=st.booleans(),
)


def starlette_app(spec: AsgiSpec, events: list[Any], raised: list[BaseException]) -> Starlette:
    """The drawn app; ``events`` gets its lifespan, requests and background tasks,
    ``raised`` every exception object it raised."""

    def fail(failure: Failure) -> None:
        error = failure.make()
        raised.append(error)
        raise error

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        events.append("startup")
        if spec.lifespan == "fails at startup":
            fail(spec.lifespan_failure)
        yield dict(spec.state)
        events.append("shutdown")
        if spec.lifespan == "fails at shutdown":
            fail(spec.lifespan_failure)

    def endpoint(index: int, route: AsgiRoute) -> Any:
        async def task(j: int) -> None:
            for _ in range(j):  # work that spans turns of the loop (a yield, not a wait)
                await anyio.lowlevel.checkpoint()
            if j == route.failing_task:
                fail(route.failure)
            events.append(f"route {index} task {j}")

        async def stream() -> AsyncIterator[bytes]:
            for n, chunk in enumerate(route.chunks):
                if n == route.fail_after:
                    fail(route.failure)
                yield chunk
            if route.fail_after == len(route.chunks):
                fail(route.failure)

        async def handle(request: Request) -> StarletteResponse:
            events.append(
                (
                    f"route {index}",
                    request.method,
                    request.url.path,
                    request.url.query,
                    words(request.headers.getlist("x-drawn")),
                    await request.body(),
                    dict(request.scope["state"]) if "state" in request.scope else None,
                )
            )
            if route.kind == "raise":
                fail(route.failure)
            background = BackgroundTasks()
            for j in range(route.tasks):
                background.add_task(task, j)
            response: StarletteResponse
            if route.kind == "stream":
                response = StreamingResponse(
                    stream(), route.status, media_type=route.media_type, background=background
                )
            else:
                response = StarletteResponse(
                    route.body, route.status, media_type=route.media_type, background=background
                )
            for name, value in route.headers:
                response.headers.append(name, value)
            return response

        return handle

    routes = [
        Route(f"/r{i}/{{tail:path}}", endpoint(i, route), methods=[m])
        for i, route in enumerate(spec.routes)
        for m in ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
    ]
    return Starlette(routes=routes, lifespan=None if spec.lifespan == "none" else lifespan)


def outcome(error: BaseException | None, raised: list[BaseException]) -> Any:
    """What a call raised: its type and message, and whether it is the app's own."""
    if error is None:
        return None
    return type(error), str(error), any(error is r for r in raised)


def run_starlette(
    app: Any,
    *,
    spec: AsgiSpec,
    events: list[Any],
    raised: list[BaseException],
    requests_: list[Call],
    raise_server_exceptions: bool,
) -> dict[str, Any]:
    """Everything a test observes of ``app`` under Starlette's TestClient."""
    seen: dict[str, Any] = {"calls": []}
    try:
        with TestClient(app, raise_server_exceptions=raise_server_exceptions) as client:
            seen["at startup"] = list(events)
            for call in requests_:
                url = call.url("r", len(spec.routes))
                try:
                    response = client.request(
                        call.method,
                        url,
                        headers=[("x-drawn", value) for value in call.header],
                        content=call.body if call.method != "HEAD" else None,
                    )
                except Exception as exc:
                    seen["calls"].append(("raised", outcome(exc, raised), list(events)))
                    continue
                headers = list(response.headers.multi_items())
                seen["calls"].append(
                    (
                        response.status_code,
                        response.content,
                        n11(headers),
                        list(events),  # background tasks: done when the call returns
                    )
                )
                seen.setdefault("lengths", []).append((headers, response.content, call.method))
    except Exception as exc:  # lifespan startup or shutdown failed
        seen["lifespan error"] = outcome(exc, raised)
    seen["at exit"] = list(events)
    return seen


def note_asgi(spec: AsgiSpec, requests_: list[Call], raise_server_exceptions: bool) -> None:
    event("lifespan " + spec.lifespan)
    event("raise_server_exceptions " + str(raise_server_exceptions))
    for call in requests_:
        index = call.target(len(spec.routes))
        if index is not None:
            route = spec.routes[index]
            kind = route.kind
            if kind == "stream" and route.fail_after is not None:
                kind += " failing"
            if route.fail_after is None and kind != "raise" and route.failing_task is not None:
                kind += ", failing task"
            event("route " + kind)
        else:
            event("route 404")


def compare_starlette(
    spec: AsgiSpec, requests_: list[Call], raise_server_exceptions: bool
) -> dict[str, Any]:
    """Run ``spec`` alone and through the round trip; assert they behave alike."""
    before = loop_threads()
    events: list[Any] = []
    raised: list[BaseException] = []
    options = {
        "spec": spec,
        "requests_": requests_,
        "raise_server_exceptions": raise_server_exceptions,
    }
    alone = run_starlette(
        starlette_app(spec, events, raised), events=events, raised=raised, **options
    )
    # The twin: built afresh, so no state, events or exception objects are shared.
    events, raised = [], []
    adapter = AsgiToWsgi(starlette_app(spec, events, raised))
    try:
        bridged = run_starlette(WsgiToAsgi(adapter), events=events, raised=raised, **options)
    finally:
        adapter.close()
    assert not loop_threads() - before, "an AsgiToWsgi loop thread outlived close()"
    note_asgi(spec, requests_, raise_server_exceptions)

    lengths = alone.pop("lengths", []), bridged.pop("lengths", [])
    if not raise_server_exceptions and "calls" in alone:
        for n, call in enumerate(requests_):
            index = call.target(len(spec.routes))
            if index is None or not fails_before_its_first_byte(spec.routes[index]):
                continue
            mine, theirs = alone["calls"][n], bridged["calls"][n]
            # N4: alone, the route's headers went out with no body. Behind a WSGI hop
            # they wait for the first non-empty body byte (PEP 3333), so a failure
            # before it is a 500: AsgiToWsgi's own (with exc_info), or, once it had
            # called start_response for an empty chunk, the TestClient's empty 500 for
            # an ASGI call that raised with nothing sent. The same events either way.
            assert mine[1] == b""
            assert theirs[0] == 500 and theirs[1] in (b"", ERROR_BODY)
            assert theirs[3] == mine[3]
            bridged["calls"][n] = mine
            event("N4: 500 through the round trip, the route's headers alone")
    assert bridged == alone
    for (mine, my_body, method), (theirs, their_body, _) in zip(*lengths, strict=True):
        check_content_length(mine, my_body, theirs, their_body, method == "HEAD")
    return alone


@given(asgi_specs, st.lists(calls, min_size=1, max_size=3), st.booleans())
@example(  # a stream failing after its first chunk; three background tasks, the second fails
    AsgiSpec(
        lifespan="state",
        state={"db": ["up"]},
        lifespan_failure=Failure("ValueError", "x"),
        routes=[
            AsgiRoute(
                kind="stream", status=200, headers=[], media_type=None, body=b"",
                chunks=[b"a", b"b"], fail_after=1, failure=Failure("KeyError", "k"),
                tasks=0, failing_task=None,
            ),
            AsgiRoute(
                kind="respond", status=201, headers=[("set-cookie", "a=1"), ("set-cookie", "b=2")],
                media_type=None, body=b"hi", chunks=[], fail_after=None,
                failure=Failure("Custom", "c"), tasks=3, failing_task=1,
            ),
        ],
    ),
    [
        Call(0, "GET", "", "", [], b"", buffered=False),
        Call(1, "POST", "x", "q=1", ["a", "b"], b"body", buffered=False),
    ],
    False,
)  # fmt: skip
def test_p7a_starlette_round_trip_under_its_test_client(
    spec: AsgiSpec, requests_: list[Call], raise_server_exceptions: bool
) -> None:
    alone = compare_starlette(spec, requests_, raise_server_exceptions)
    if spec.lifespan == "state":  # startup ran before the first request, shutdown at exit
        assert alone["at startup"] == ["startup"] and alone["at exit"][-1] == "shutdown"


ONE_ROUTE = [
    AsgiRoute("respond", 200, [], None, b"ok", [], None, Failure("ValueError", ""), 0, None)
]


@given(
    st.builds(AsgiSpec, st.just("fails at startup"), st.just({}), failures, st.just(ONE_ROUTE)),
    st.lists(calls, max_size=1),
    st.booleans(),
)
@example(AsgiSpec("fails at startup", {}, Failure("ValueError", "x"), ONE_ROUTE), [], True)
def test_p7a_failing_startup_raises_like_the_app(
    spec: AsgiSpec, requests_: list[Call], raise_server_exceptions: bool
) -> None:
    alone = compare_starlette(spec, requests_, raise_server_exceptions)
    assert alone["at exit"] == ["startup"] and alone["lifespan error"][2]


@given(
    st.builds(AsgiSpec, st.just("fails at shutdown"), st.just({}), failures, st.just(ONE_ROUTE)),
    st.lists(calls, max_size=1),
    st.booleans(),
)
@example(AsgiSpec("fails at shutdown", {}, Failure("ValueError", "x"), ONE_ROUTE), [], True)
def test_p7a_failing_shutdown_raises_like_the_app(
    spec: AsgiSpec, requests_: list[Call], raise_server_exceptions: bool
) -> None:
    alone = compare_starlette(spec, requests_, raise_server_exceptions)
    assert alone["at exit"][-1] == "shutdown" and alone["lifespan error"][2]


# -- P7b: Flask under its test client ---------------------------------------------


@dataclass(frozen=True)
class FlaskView:
    kind: str  # "respond", "stream" or "raise"
    context: bool  # stream: wrapped in stream_with_context
    status: int
    headers: list[tuple[str, str]]
    mimetype: str | None
    body: bytes
    chunks: list[bytes]
    fail_after: int | None  # stream: raise after this many chunks
    failure: Failure


@st.composite
def flask_views(draw: st.DrawFn) -> FlaskView:
    kind = draw(st.sampled_from(["respond", "stream", "raise"]))
    chunks = draw(chunk_lists)
    return FlaskView(
        kind=kind,
        context=draw(st.booleans()),
        status=draw(statuses),
        headers=draw(response_headers),
        mimetype=draw(st.sampled_from([None, "text/plain", "application/octet-stream"])),
        body=draw(bodies),
        chunks=chunks,
        fail_after=draw(st.none() | st.integers(0, len(chunks))) if kind == "stream" else None,
        failure=draw(failures),
    )


def flask_app(views: list[FlaskView], records: list[Any], raised: list[BaseException]) -> Flask:
    """The drawn Flask app; ``records`` gets what its views and hooks saw."""
    app = Flask("p7_flask")
    app.testing = True  # exceptions propagate to the test client

    def fail(failure: Failure) -> None:
        error = failure.make()
        raised.append(error)
        raise error

    def view_for(index: int, view: FlaskView) -> Any:
        def stream() -> Iterator[bytes]:
            for n, chunk in enumerate(view.chunks):
                if n == view.fail_after:
                    fail(view.failure)
                yield chunk
            if view.fail_after == len(view.chunks):
                fail(view.failure)

        def handle(tail: str) -> Response:
            records.append(
                (
                    f"view {index}",
                    request.method,
                    request.path,
                    request.query_string,
                    words(request.headers.getlist("X-Drawn")),
                    request.get_data(),
                )
            )
            if view.kind == "raise":
                fail(view.failure)
            body: Any = view.body
            if view.kind == "stream":
                body = stream_with_context(stream()) if view.context else stream()
            response = Response(body, view.status, mimetype=view.mimetype)
            for name, value in view.headers:
                response.headers.add(name, value)
            return response

        return handle

    methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
    for i, view in enumerate(views):
        handle = view_for(i, view)
        app.add_url_rule(f"/v{i}/", f"v{i}", handle, defaults={"tail": ""}, methods=methods)
        app.add_url_rule(f"/v{i}/<path:tail>", f"v{i}", handle, methods=methods)

    @app.after_request
    def after(response: Response) -> Response:
        records.append(("after_request", response.status_code))
        return response

    @app.teardown_request
    def teardown(error: BaseException | None) -> None:
        records.append(("teardown", None if error is None else (type(error), str(error))))

    return app


def run_flask(
    app: Flask,
    views: list[FlaskView],
    records: list[Any],
    raised: list[BaseException],
    calls_: list[Call],
) -> list[Any]:
    """Everything a test observes of ``app`` under Flask's test client, per call."""
    client = app.test_client()
    seen: list[Any] = []
    for call in calls_:
        url = call.url("v", len(views))
        try:
            response = client.open(
                url,
                method=call.method,
                data=call.body,
                headers=[("X-Drawn", value) for value in call.header],
                buffered=call.buffered,
            )
        except Exception as exc:
            seen.append({"raised by the call": outcome(exc, raised), "records": list(records)})
            continue
        index = call.target(len(views))
        view = None if index is None else views[index]
        lazy_teardown = view is not None and view.kind == "stream" and view.context
        at_return = None if lazy_teardown and not call.buffered else list(records)
        chunks: list[bytes] = []
        error: BaseException | None = None
        try:
            for chunk in response.response:
                chunks.append(chunk)
        except Exception as exc:
            error = exc
        close_error: BaseException | None = None
        try:
            response.close()
        except Exception as exc:
            close_error = exc
        seen.append(
            {
                "status": response.status_code,
                "body": b"".join(chunks),
                "headers": n11(list(response.headers.items())),
                "content-length": [
                    v for k, v in response.headers.items() if k.lower() == "content-length"
                ],
                "records at return": at_return,
                "raised by the body": outcome(error, raised),
                "raised by close()": outcome(close_error, raised),
                "records": list(records),
            }
        )
    return seen


def note_flask(views: list[FlaskView], calls_: list[Call]) -> None:
    for call in calls_:
        index = call.target(len(views))
        if index is None:
            event("view 404")
            continue
        view = views[index]
        kind = view.kind + (" with context" if view.kind == "stream" and view.context else "")
        if view.fail_after is not None:
            kind += " failing"
        event("view " + kind + (", buffered" if call.buffered else ""))


@given(st.lists(flask_views(), min_size=1, max_size=3), st.lists(calls, min_size=1, max_size=3))
def test_p7b_flask_round_trip_under_its_test_client(
    views: list[FlaskView], calls_: list[Call]
) -> None:
    before = loop_threads()
    records: list[Any] = []
    raised: list[BaseException] = []
    alone = run_flask(flask_app(views, records, raised), views, records, raised, calls_)
    records, raised = [], []
    app = flask_app(views, records, raised)
    adapter = AsgiToWsgi(WsgiToAsgi(app.wsgi_app))
    app.wsgi_app = adapter  # type: ignore[method-assign]
    try:
        bridged = run_flask(app, views, records, raised, calls_)
    finally:
        adapter.close()
    assert not loop_threads() - before, "an AsgiToWsgi loop thread outlived close()"
    note_flask(views, calls_)

    assert len(bridged) == len(alone) == len(calls_)
    for call, mine, theirs in zip(calls_, alone, bridged, strict=True):
        index = call.target(len(views))
        view = None if index is None else views[index]
        if (
            "raised by the call" in theirs
            and "raised by the call" not in mine
            and not call.buffered
            and view is not None
            and fails_before_its_first_byte(view)
        ):
            # N4: PEP 3333 holds the headers until the first non-empty body byte, so
            # the round trip's client gets the exception from get(); alone, from the body.
            assert mine["raised by the body"] == theirs["raised by the call"]
            assert mine["body"] == b""
            assert mine["records"] == theirs["records"]
            event("N4: raised by get() through the round trip, by the body alone")
            continue
        if "status" in mine and "status" in theirs:
            check_content_length(
                [("content-length", v) for v in mine.pop("content-length")],
                mine["body"],
                [("content-length", v) for v in theirs.pop("content-length")],
                theirs["body"],
                call.method == "HEAD",
            )
        assert theirs == mine
