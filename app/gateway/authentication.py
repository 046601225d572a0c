"""Authentication and per-key limits for every route and transport, as one ASGI middleware.

HTTP requests and WebSocket handshakes alike: the key comes from `Authorization: Bearer`,
`X-API-Key`, or (WebSockets only, since browsers cannot set their headers) the `api_key`
query parameter. `/health` and `/health/ready` are open (probes carry no keys; a caller
that is known there gets the details). Until a first key is created (and without
AUTH_REQUIRED) the service is in local-only mode: a caller on this machine (loopback TCP
peer, no forwarding header, addressed to localhost) is the local owner, whatever Bearer
value it sends (OpenAI clients always send one), and anyone else is refused. Once keys
exist, a key is required and must be valid. `/admin/*` and `/metrics` need the `admin`
scope, everything else `chat`. A refused WebSocket is closed before it is accepted
(code 1008) with the reason.
"""

from __future__ import annotations

import asyncio
import json
import time
from urllib.parse import parse_qs

from starlette.types import ASGIApp, Receive, Scope, Send

from app.access.keys import LOCAL_ONLY_HINT, LOCAL_PRINCIPAL, Principal, local_only_refusal
from app.errors import error_body

OPEN_PATHS = ("/health", "/health/ready")
ADMIN_PREFIXES = ("/admin", "/metrics")
TOUCH_INTERVAL = 60.0  # seconds between last-used updates of one key


class Refused(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


def header_map(scope: Scope) -> dict[str, str]:
    """An ASGI scope's headers by lower-case name."""
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}


def presented_key(scope: Scope) -> str | None:
    headers = header_map(scope)
    if (authorization := headers.get("authorization", "")).lower().startswith("bearer "):
        return authorization[7:].strip() or None
    if key := headers.get("x-api-key", "").strip():
        return key
    if scope["type"] == "websocket":
        values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("api_key")
        return values[0] if values else None
    return None


def local_caller_refusal(scope: Scope) -> str | None:
    """Why this connection may not act as the local owner (None: it may)."""
    headers = header_map(scope)
    peer = scope.get("client")
    return local_only_refusal(peer[0] if peer else None, headers.get("host"), set(headers))


class Authenticate:
    def __init__(self, app: ASGIApp):
        self.app = app
        self._touched: dict[str, float] = {}

    async def _principal(self, scope: Scope) -> Principal:
        services = scope["app"].state.services
        if not await asyncio.to_thread(services.keys.keys_configured):
            if refusal := local_caller_refusal(scope):
                raise Refused(403, "local_only", f"{refusal}; {LOCAL_ONLY_HINT}")
            return LOCAL_PRINCIPAL  # a Bearer value a local client sends is not a key yet
        key = presented_key(scope)
        if key is None:
            raise Refused(401, "unauthorized", "an API key is required (Authorization: Bearer or X-API-Key)",
                          {"WWW-Authenticate": "Bearer"})
        principal = await asyncio.to_thread(services.keys.authenticate, key)
        if principal is None:
            raise Refused(401, "unauthorized", "the API key is not valid (unknown or revoked)",
                          {"WWW-Authenticate": "Bearer"})
        needed = "admin" if scope["path"].startswith(ADMIN_PREFIXES) else "chat"
        if not principal.may(needed):
            raise Refused(403, "forbidden", f"this API key lacks the {needed!r} scope")
        refusal = await services.rate_limits.admit(principal.key_prefix)
        if refusal is not None:
            what = ("requests per minute" if refusal.reason == "requests_per_minute" else "tokens per day")
            raise Refused(429, "rate_limited", f"this API key is over its {what}",
                          {"Retry-After": str(refusal.retry_after)})
        now = time.monotonic()
        if now - self._touched.get(principal.key_prefix, 0.0) > TOUCH_INTERVAL:
            self._touched[principal.key_prefix] = now
            await asyncio.to_thread(services.keys.touch, principal.key_prefix)
        return principal

    async def _known_caller(self, scope: Scope) -> Principal | None:
        """On an open path: who calls, if anyone we know (never a refusal, never counted)."""
        services = scope["app"].state.services
        try:
            if not await asyncio.to_thread(services.keys.keys_configured):
                return None if local_caller_refusal(scope) else LOCAL_PRINCIPAL
            key = presented_key(scope)
            return await asyncio.to_thread(services.keys.authenticate, key) if key else None
        except Exception:  # the health report says what is down
            return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        state = scope.setdefault("state", {})
        if scope["path"] in OPEN_PATHS:
            if (known := await self._known_caller(scope)) is not None:
                state["principal"] = known
            return await self.app(scope, receive, send)
        try:
            principal = await self._principal(scope)
        except Refused as refused:
            return await _refuse(scope, send, refused)
        state["principal"] = principal
        if scope["type"] == "websocket":  # each frame re-checks the key and its limits
            state["api_key"] = presented_key(scope)
        await self.app(scope, receive, send)


async def _refuse(scope: Scope, send: Send, refused: Refused) -> None:
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1008, "reason": f"{refused.code}: {refused.message}"[:120]})
        return
    body = json.dumps(error_body(refused.code, refused.message)).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(k.lower().encode(), v.encode()) for k, v in refused.headers.items()]
    await send({"type": "http.response.start", "status": refused.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
