"""A scripted ASGI server side for driving ``WsgiToAsgi`` in-process.

:class:`Client` feeds ``receive`` from a list (request body chunks, or the
messages themselves) and records what the app ``send``\\s; once its list is
empty, ``receive`` waits for :attr:`Client.disconnect` to be set and then says
``http.disconnect``. :func:`serve` runs the app on an ``http`` scope from
tests/asgi_scope.py, bounded by ``anyio.fail_after``. With ``validate=True``
every message both ways also goes through the P4 ASGI validator
(tests/asgi_validator.py), and a call that returns normally must have finished
its response unless the client went away. It is opt-in because some tests feed
deliberately bad messages to check the bridge's own refusals.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import anyio
from asgi_scope import http_scope
from asgi_validator import AsgiValidator

Message = dict[str, Any]
TIMEOUT = 10


class Client:
    """A scripted ASGI server side: feeds `receive`, records `send`."""

    def __init__(
        self,
        chunks: Iterable[bytes] = (),
        *,
        messages: list[Message] | None = None,
        disconnect_after_body: bool = False,
        send_hook: Callable[[Message], Awaitable[None]] | None = None,
    ) -> None:
        chunk_list = list(chunks)
        self.incoming: list[Message] = (
            messages
            or [
                {"type": "http.request", "body": c, "more_body": i < len(chunk_list) - 1}
                for i, c in enumerate(chunk_list)
            ]
            or [{"type": "http.request", "body": b"", "more_body": False}]
        )
        if disconnect_after_body:
            self.incoming[-1]["more_body"] = True
            self.incoming.append({"type": "http.disconnect"})
        self.receive_calls = 0
        self.sent: list[Message] = []
        self.send_hook = send_hook
        self.disconnect = anyio.Event()
        self.validator: AsgiValidator | None = None
        self.send_failed = False

    async def receive(self) -> Message:
        self.receive_calls += 1
        if self.incoming:
            message = self.incoming.pop(0)
        else:
            await self.disconnect.wait()  # bounded by serve()'s fail_after
            message = {"type": "http.disconnect"}
        if self.validator is not None:
            self.validator.received(message)
        return message

    async def send(self, message: Message) -> None:
        if self.validator is not None:
            self.validator.sent(message)
        if self.send_hook is not None:
            try:
                await self.send_hook(message)
            except BaseException:
                self.send_failed = True
                raise
        self.sent.append(message)

    @property
    def status(self) -> int:
        assert self.sent and self.sent[0]["type"] == "http.response.start"
        return int(self.sent[0]["status"])

    @property
    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.sent[1:])

    @property
    def complete(self) -> bool:
        return bool(self.sent) and self.sent[-1].get("more_body") is False


async def serve(
    app: Any, client: Client, timeout: float = TIMEOUT, *, validate: bool = False, **scope: Any
) -> None:
    """``app`` on ``http_scope(**scope)`` with ``client``, within ``timeout`` s."""
    the_scope = http_scope(**scope)
    validator = client.validator = AsgiValidator(the_scope) if validate else None
    with anyio.fail_after(timeout):
        await app(the_scope, client.receive, client.send)
    if validator is not None:
        validator.finish(complete=not (validator.disconnected or client.send_failed))
