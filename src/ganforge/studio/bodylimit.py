"""Request bodies bounded before anything parses them.

:class:`BodyLimit` is ASGI middleware: a request to a capped path whose ``Content-Length`` is
over the limit gets ``413`` without a byte of its body being read; a body sent without a length
(chunked) is read up to the limit and refused as soon as it passes it. Either way the server
holds at most the limit (plus one network chunk) of a body in memory. Paths with limits of their
own (multipart uploads, checked file by file) are left alone.
"""

from __future__ import annotations

import json
from typing import Any, Awaitable, Callable

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class BodyLimit:
    def __init__(self, app: Any, *, max_bytes: int, exempt: tuple[str, ...] = ()) -> None:
        self.app, self.max_bytes, self.exempt = app, max_bytes, exempt

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH", "DELETE") \
                or scope["path"] in self.exempt:
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            await self.refuse(send, int(length))
            return
        # Read the body here, up to the limit, then hand the app a receive that replays it.
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                await self.app(scope, _replay([message]), send)
                return
            body = message.get("body", b"")
            size += len(body)
            if size > self.max_bytes:
                await self.refuse(send, None)
                return
            chunks.append(message)
            more = message.get("more_body", False)
        await self.app(scope, _replay(chunks, receive), send)

    async def refuse(self, send: Send, length: int | None) -> None:
        size = f"a body of {length} bytes" if length is not None else "the body"
        body = json.dumps({"error": {"code": "too_large", "message": f"{size} is over the {self.max_bytes} bytes "
                                                                     "a request body may have", "field": None}}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})


def _replay(messages: list[Message], then: Receive | None = None) -> Receive:
    """A receive that gives ``messages`` first, then whatever ``then`` gives (a disconnect)."""
    queue = list(messages)

    async def receive() -> Message:
        if queue:
            return queue.pop(0)
        if then is not None:
            return await then()
        return {"type": "http.disconnect"}

    return receive
