"""The outermost middleware: a request id, one log line and the metrics of every request.

Each request gets an id (the client's `X-Request-ID` when it is sane, a new one otherwise),
returned as the `X-Request-ID` header and stamped on every log line of the request.
"""

from __future__ import annotations

import logging
import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.observability import metrics
from app.observability.logs import REQUEST_ID_PATTERN, request_id

log = logging.getLogger("chatbot.request")


class ObserveRequests:
    """Outermost middleware: request id, one log line and the metrics of every request."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers", []))
        given = headers.get(b"x-request-id", b"").decode("latin-1")
        rid = given if REQUEST_ID_PATTERN.match(given) else uuid.uuid4().hex
        token = request_id.set(rid)
        started = time.perf_counter()
        status = 500 if scope["type"] == "http" else 101

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", []), (b"x-request-id", rid.encode())]}
            elif message["type"] == "websocket.close" and status == 101:
                status = 403 if message.get("code") == 1008 else status
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            method = scope.get("method", "WS")
            metrics.HTTP_REQUESTS.labels(route, method, str(status)).inc()
            metrics.HTTP_LATENCY.labels(route, method).observe(seconds)
            state = scope.get("state", {})
            line = {"method": method, "path": scope["path"], "route": route, "status": status,
                    "duration_ms": round(seconds * 1000, 2), "owner": getattr(state.get("principal"), "owner", None)}
            if "end_user" in state:  # an OpenAI client's `user`
                line["end_user"] = state["end_user"]
            level = logging.ERROR if status >= 500 else logging.INFO
            log.log(level, "request %s %s %s", method, scope["path"], status, extra=line)
            request_id.reset(token)
