"""Given: an in-memory response cache for single predictions, keyed on the raw request bytes (lab 8, lean).

The same body sent to the same model gets the same answer, so a hit can skip everything — routing,
parsing, validation, the model, serialising — and send the bytes it sent last time. It is a pure ASGI
middleware (not ``BaseHTTPMiddleware``, which costs more per request than a hit is worth), and it only
ever stores a ``200`` answer of ``POST /predict/{model_name}``. Models load once at startup, so an answer
stays right for the life of the process; the cache is per process and bounded (least recently used
answers go first). A client that wants a freshly computed answer sends ``Cache-Control: no-cache``
(the notebook and the benchmark do, to measure the model rather than the cache).
"""

from __future__ import annotations

from collections import OrderedDict

from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADERS = [(b"content-type", b"application/json")]


def cacheable(scope: Scope) -> bool:
    """``POST /predict/<name>`` exactly (not the batch or micro-batched routes), unless asked not to."""
    path = scope["path"]
    return (scope["method"] == "POST" and path.startswith("/predict/") and path.count("/") == 2
            and not any(name == b"cache-control" and b"no-cache" in value.lower()
                        for name, value in scope["headers"]))


class ResponseCache:
    """Given: a bounded LRU map from (path, body bytes) to the JSON bytes answered."""

    def __init__(self, size: int):
        self.size = size
        self.answers: OrderedDict[tuple[str, bytes], bytes] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, key: tuple[str, bytes]) -> bytes | None:
        found = self.answers.get(key)
        if found is None:
            self.misses += 1
            return None
        self.answers.move_to_end(key)
        self.hits += 1
        return found

    def put(self, key: tuple[str, bytes], content: bytes) -> None:
        if self.size <= 0:
            return
        self.answers[key] = content
        self.answers.move_to_end(key)
        while len(self.answers) > self.size:
            self.answers.popitem(last=False)


class ResponseCacheMiddleware:
    """Given: answer a repeated single prediction from :class:`ResponseCache`."""

    def __init__(self, app: ASGIApp, cache: ResponseCache):
        self.app = app
        self.cache = cache

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.cache.size <= 0 or not cacheable(scope):
            await self.app(scope, receive, send)
            return
        body = await read_body(receive)
        if body is None:
            return  # the client went away before sending its body
        key = (scope["path"], body)
        content = self.cache.get(key)
        if content is not None:
            await send({"type": "http.response.start", "status": 200,
                        "headers": [*HEADERS, (b"content-length", str(len(content)).encode())]})
            await send({"type": "http.response.body", "body": content})
            return
        status = 0
        parts: list[bytes] = []

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()  # after the body: wait for the client to go away, as usual
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body" and status == 200:
                parts.append(message.get("body", b""))
                if not message.get("more_body", False):
                    self.cache.put(key, b"".join(parts))
            await send(message)

        replayed = False
        await self.app(scope, replay, record)


async def read_body(receive: Receive) -> bytes | None:
    """The whole request body, or None if the client disconnected first."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)
