"""The limits and the header rules over real HTTP on 127.0.0.1 (issue 7, items 1 and 2).

uvicorn serves ``WsgiToAsgi`` and wsgiref serves ``AsgiToWsgi`` (tests/limit_apps.py,
with small limits). Each server runs in its own process group on a free port for the
whole module and is stopped by its PID. Raw sockets are used where a client library
would refuse to send the request.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from servers import ServerProcess, gunicorn, raw, script, uvicorn

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]

TIMEOUT = 20

COMMANDS = {
    "uvicorn-w2a": uvicorn("limit_apps:w2a", log_level="critical"),
    "wsgiref-a2w": script("limit_apps:a2w"),
    "gunicorn-a2w": gunicorn("limit_apps:a2w", "-k", "gthread", "--threads", "2"),
}
# Servers that hand the bridge a chunked request body (wsgiref cannot).
CHUNKED = {"uvicorn-w2a", "gunicorn-a2w"}


@pytest.fixture(scope="module", params=sorted(COMMANDS))
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    server = ServerProcess(
        request.param, COMMANDS[request.param], tmp_path_factory.mktemp("server")
    )
    try:
        yield request.param, server.url
    finally:
        server.stop()


@pytest.fixture
def url(server: tuple[str, str]) -> str:
    return server[1]


def get(
    url: str,
    path: str = "/",
    *,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    content: bytes | Iterator[bytes] | None = None,
) -> httpx.Response:
    return httpx.request(method, url + path, headers=headers, content=content, timeout=TIMEOUT)


def test_body_within_the_limit_is_echoed(url: str) -> None:
    response = get(url, "/echo", method="POST", content=b"x" * 1000)
    assert response.status_code == 200 and response.content == b"x" * 1000


def test_declared_body_over_the_limit_is_413(url: str) -> None:
    response = get(url, "/echo", method="POST", content=b"x" * 1001)
    assert response.status_code == 413
    assert b"larger than the limit of 1000" in response.content


def test_too_many_headers_is_431(url: str) -> None:
    headers = {f"X-H{i}": "v" for i in range(25)}
    assert get(url, headers=headers).status_code == 431


def test_too_many_header_bytes_is_431(url: str) -> None:
    assert get(url, headers={"X-Big": "v" * 2100}).status_code == 431


def test_too_long_a_target_is_414(url: str) -> None:
    assert get(url, "/" + "p" * 2100).status_code == 414
    assert get(url, "/?q=" + "x" * 2100).status_code == 414


def test_oversized_response_headers_are_a_500_and_not_forwarded(url: str) -> None:
    response = get(url, "/big-header")
    assert response.status_code == 500
    assert "x-big" not in response.headers


def test_response_header_injection_is_a_500_and_not_forwarded(url: str) -> None:
    port = int(url.rsplit(":", 1)[1])
    answer = raw(port, b"GET /inject HTTP/1.0\r\nHost: x\r\n\r\n", TIMEOUT)
    assert answer.startswith(b"HTTP/1.") and b" 500 " in answer.split(b"\r\n", 1)[0]
    assert b"evil" not in answer.lower()


def chunks(total: int, piece: int = 300) -> Iterator[bytes]:
    for start_at in range(0, total, piece):
        yield b"c" * min(piece, total - start_at)


def test_chunked_body_within_and_past_the_limit(server: tuple[str, str]) -> None:
    name, url = server
    if name not in CHUNKED:
        pytest.skip(f"{name} does not pass chunked request bodies to the app")
    ok = get(url, "/echo", method="POST", content=chunks(1000))
    assert ok.status_code == 200 and ok.content == b"c" * 1000
    refused = get(url, "/echo", method="POST", content=chunks(5000))
    assert refused.status_code == 413
    assert b"larger than the limit of 1000" in refused.content


def test_server_still_serves_after_every_refusal(url: str) -> None:
    for _ in range(3):
        get(url, "/big-header")
        get(url, headers={f"X-H{i}": "v" for i in range(25)})
    response = get(url)
    assert response.status_code == 200 and response.content == b"ok"


def test_a2w_nul_in_a_request_header_is_refused_by_the_bridge(tmp_path: Path) -> None:
    """wsgiref passes a NUL in a header value through; the bridge refuses it (400)."""
    server = ServerProcess("wsgiref-a2w", COMMANDS["wsgiref-a2w"], tmp_path)
    try:
        request = b"GET / HTTP/1.0\r\nHost: x\r\nX-A: a\x00b\r\n\r\n"
        answer = raw(server.port, request, TIMEOUT)
    finally:
        server.stop()
    assert b" 400 " in answer.split(b"\r\n", 1)[0]
    assert b"CR, LF or NUL" in answer
