"""Load and soak through both bridges on real servers (issue 7 item 4).

``SOAK_REQUESTS`` requests (default 1,500; ``make soak`` runs 20,000), half
through ``WsgiToAsgi`` on uvicorn and half through ``AsgiToWsgi`` on gunicorn
(gthread), from client threads in this process speaking raw HTTP/1.1 over
127.0.0.1. The mix: small requests on keep-alive connections, uploads, large
streamed downloads, client disconnects (before the body, mid-upload,
mid-download, while computing) and app errors at every stage. Every
non-faulted answer is checked by content (sha256 of what was streamed or
echoed), every error answer by its status or cut. Afterwards each server's
threads, loop tasks, fds and RSS, measured in the server process, must be back
at the baseline taken after warm-up, within a small bound.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fault_client import (
    STAGES,
    WORKERS,
    assert_baseline,
    connect,
    cut_before_body,
    cut_mid_download,
    cut_mid_upload,
    gate,
    head,
    payload,
    request,
    sha,
    started,
    warm_up,
)
from servers import ServerProcess

REQUESTS = int(os.environ.get("SOAK_REQUESTS", "1500"))
CLIENTS = 4  # client threads per server
SEED = int(os.environ.get("SOAK_SEED", "7"))

pytestmark = [pytest.mark.e2e, pytest.mark.soak, pytest.mark.timeout(60 + REQUESTS // 40)]

KINDS = [  # (kind, weight)
    ("hello", 50),
    ("echo", 14),
    ("stream", 10),
    ("sleep", 4),
    ("cut_before_body", 3),
    ("cut_mid_upload", 3),
    ("cut_mid_download", 3),
    ("cut_computing", 3),
    ("error", 10),
]
STREAM_SIZES = [65536, 262144, 1048576, 2097152]


class Client:
    """One load-generator thread's connection and tally."""

    def __init__(self, server: str, port: int, rng: random.Random) -> None:
        self.server = server
        self.port = port
        self.rng = rng
        self.conn: http.client.HTTPConnection | None = None
        self.counts: dict[str, int] = {}
        self.wrong: list[str] = []

    def keepalive(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        """A request on this client's persistent connection (reconnects once if it closed)."""
        for attempt in (1, 2):
            conn = self.conn
            if conn is None:
                conn = self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            try:
                conn.request(method, path, body=body)
                response = conn.getresponse()
                data = response.read()
                if response.getheader("connection", "").lower() == "close":
                    conn.close()
                    self.conn = None
                return response.status, data
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                conn.close()
                self.conn = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def check(self, kind: str, ok: bool, detail: object) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + 1
        if not ok and len(self.wrong) < 20:
            self.wrong.append(f"{self.server} {kind}: {detail!r}"[:300])
        if not ok:
            self.counts["wrong"] = self.counts.get("wrong", 0) + 1

    def one(self, kind: str) -> None:
        rng, port = self.rng, self.port
        if kind == "hello":
            status, data = self.keepalive("GET", "/hello")
            self.check(kind, (status, data) == (200, b"hello"), (status, data[:100]))
        elif kind == "echo":
            body = payload(rng.choice([0, 1, 1000, 65536, 200_000]), rng.randrange(65536))
            status, data = self.keepalive("POST", "/echo", body)
            expected = {"length": len(body), "sha256": sha(body)}
            self.check(kind, status == 200 and json.loads(data) == expected, (status, data[:100]))
        elif kind == "stream":
            size = rng.choice(STREAM_SIZES)
            status, data = self.keepalive("GET", f"/stream?size={size}")
            self.check(kind, status == 200 and sha(data) == sha(payload(size)), (status, len(data)))
        elif kind == "sleep":
            status, data = self.keepalive("GET", "/sleep?ms=20")
            self.check(kind, (status, data) == (200, b"slept"), (status, data[:100]))
        elif kind == "cut_before_body":
            cut_before_body(port)
            self.check(kind, True, None)
        elif kind == "cut_mid_upload":
            cut_mid_upload(port, length=1_000_000)
            self.check(kind, True, None)
        elif kind == "cut_mid_download":
            cut_mid_download(port, after=rng.choice([1, 65536, 300_000]))
            self.check(kind, True, None)
        elif kind == "cut_computing":
            with connect(port) as sock:
                sock.sendall(head("GET", "/compute?seconds=0.05"))
                time.sleep(rng.choice([0, 0.01, 0.03]))  # cut at some point of the work
            self.check(kind, True, None)
        elif kind == "error":
            stage, outcome = rng.choice(list(STAGES[self.server].items()))
            answer = request(port, "GET", f"/error?stage={stage}")
            self.check(kind, (answer.status, answer.complete) == outcome, (stage, answer.status))
        else:
            raise AssertionError(kind)

    def run(self, kinds: list[str]) -> None:
        try:
            for kind in kinds:
                self.one(kind)
        finally:
            if self.conn is not None:
                self.conn.close()


def plan(rng: random.Random, n: int) -> list[str]:
    names = [k for k, _ in KINDS]
    weights = [w for _, w in KINDS]
    return rng.choices(names, weights, k=n)


@pytest.fixture
def soak_servers(tmp_path: Path) -> Iterator[dict[str, ServerProcess]]:
    with started(("wsgi", "asgi"), tmp_path) as running:
        yield running


def test_soak_both_directions(soak_servers: dict[str, ServerProcess]) -> None:
    baselines = {name: warm_up(server.port) for name, server in soak_servers.items()}
    rng = random.Random(SEED)
    clients: list[Client] = []
    threads: list[threading.Thread] = []
    errors: list[BaseException] = []
    per_client = REQUESTS // (len(soak_servers) * CLIENTS)
    for name, server in soak_servers.items():
        for _ in range(CLIENTS):
            client = Client(name, server.port, random.Random(rng.random()))
            kinds = plan(client.rng, per_client)

            def work(client: Client = client, kinds: list[str] = kinds) -> None:
                try:
                    client.run(kinds)
                except BaseException as exc:
                    errors.append(exc)

            clients.append(client)
            threads.append(threading.Thread(target=work, daemon=True))
    began = time.monotonic()
    for thread in threads:
        thread.start()
    limit = began + 30 + REQUESTS / 20  # a bound against hangs, not a speed requirement
    for thread in threads:
        thread.join(max(limit - time.monotonic(), 0))
    duration = time.monotonic() - began
    assert not any(t.is_alive() for t in threads), "the load generator hangs: a deadlock"
    assert not errors, errors[:5]

    totals: dict[str, int] = {}
    for client in clients:
        for kind, count in client.counts.items():
            totals[kind] = totals.get(kind, 0) + count
    wrong = [w for client in clients for w in client.wrong]
    assert not wrong, wrong
    assert sum(totals.values()) == per_client * len(clients)  # every request was made

    afters = {}
    for name, server in soak_servers.items():
        afters[name] = assert_baseline(server.port, baselines[name], timeout=60)
        gate(server.port, WORKERS)  # every worker thread is free
    summary = {
        "requests": per_client * len(clients),
        "duration_s": round(duration, 1),
        "kinds": totals,
        **{
            f"{name}_{when}": {k: snap[k] for k in ("threads", "tasks", "fds", "rss", "blocks")}
            for name in soak_servers
            for when, snap in (("before", baselines[name]), ("after", afters[name]))
        },
    }
    print("\nSOAK", json.dumps(summary))
