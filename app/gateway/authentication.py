"""Who is calling, on every route and transport: one check, run by one ASGI middleware.

HTTP requests and WebSocket handshakes alike present a key (app/access/credentials.py).
Until a first key is created (and without AUTH_REQUIRED) the service is in local-only
mode (app/access/local_only.py): a caller on this machine is the local owner, whatever
Bearer value it sends (OpenAI clients always send one), and anyone else is refused. Once
keys exist, a key is required and must be valid, and each request counts against its
key's limits. `/health` and `/health/ready` are open (probes carry no keys; a caller that
is known there gets the details), and so are the chat page's files (`/`, `/static/`),
which hold no data. What a caller may do is the routes' business
(`require_scope` in app/gateway/dependencies.py). A refused WebSocket is closed before it
is accepted (code 1008) with the reason; an accepted one is checked again on every frame
(`Authenticator.check`), so a revoked key ends its session at once.
"""

from __future__ import annotations

import asyncio
import time

from starlette.types import ASGIApp, Receive, Scope, Send

from app.access.credentials import local_caller_refusal, presented_key
from app.access.keys import LOCAL_PRINCIPAL, KeyStore, Principal
from app.access.limits import KeyRateLimits
from app.access.local_only import LOCAL_ONLY_HINT
from app.errors import ErrorCode, ServiceError, error_response

OPEN_PATHS = ("/health", "/health/ready", "/health/live")
PAGE_PATHS = ("/",)  # the chat page and its files (`/static/`): no data; the page's API calls carry the key
PAGE_PREFIX = "/static/"
TOUCH_INTERVAL = 60.0  # seconds between last-used updates of one key
UNAUTHORIZED = {"WWW-Authenticate": "Bearer"}


class Authenticator:
    """The caller of a request or WebSocket frame, or the `ServiceError` that refuses it."""

    def __init__(self, keys: KeyStore, limits: KeyRateLimits):
        self.keys, self.limits = keys, limits
        self._touched: dict[str, float] = {}  # key prefix -> when its last use was recorded

    async def _keys_configured(self) -> bool:
        """Whether keys are required yet: the key store's cached answer, or the database's (in a thread)."""
        known = self.keys.known_keys_configured()
        return known if known is not None else await asyncio.to_thread(self.keys.keys_configured)

    async def check(self, scope: Scope) -> Principal:
        if not await self._keys_configured():
            if refusal := local_caller_refusal(scope):
                raise ServiceError(ErrorCode.LOCAL_ONLY, reason=refusal, hint=LOCAL_ONLY_HINT)
            return LOCAL_PRINCIPAL  # a Bearer value a local client sends is not a key yet
        key = presented_key(scope)
        if key is None:
            raise ServiceError(ErrorCode.UNAUTHORIZED, headers=UNAUTHORIZED)
        principal = await asyncio.to_thread(self.keys.authenticate, key)
        if principal is None:
            raise ServiceError(ErrorCode.UNAUTHORIZED, "the API key is not valid (unknown or revoked)",
                               headers=UNAUTHORIZED)
        refusal = await self.limits.admit(principal.key_prefix)
        if refusal is not None:
            limit = "requests per minute" if refusal.reason == "requests_per_minute" else "tokens per day"
            raise ServiceError(ErrorCode.RATE_LIMITED, details={"retry_after": refusal.retry_after},
                               headers={"Retry-After": str(refusal.retry_after)}, limit=limit)
        await self._touch(principal.key_prefix)
        return principal

    async def _touch(self, prefix: str) -> None:
        now = time.monotonic()
        if now - self._touched.get(prefix, 0.0) > TOUCH_INTERVAL:
            self._touched[prefix] = now
            await asyncio.to_thread(self.keys.touch, prefix)

    async def known_caller(self, scope: Scope) -> Principal | None:
        """On an open path: who calls, if anyone we know (never a refusal, never counted)."""
        try:
            if not await self._keys_configured():
                return None if local_caller_refusal(scope) else LOCAL_PRINCIPAL
            key = presented_key(scope)
            return await asyncio.to_thread(self.keys.authenticate, key) if key else None
        except Exception:  # the health report says what is down
            return None


class Authenticate:
    """The middleware: `state.principal` for every request and WebSocket the service serves."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        authenticator: Authenticator = scope["app"].state.authenticator
        state = scope.setdefault("state", {})
        if scope["path"] in PAGE_PATHS or scope["path"].startswith(PAGE_PREFIX):
            return await self.app(scope, receive, send)
        if scope["path"] in OPEN_PATHS:
            if (known := await authenticator.known_caller(scope)) is not None:
                state["principal"] = known
            return await self.app(scope, receive, send)
        try:
            state["principal"] = await authenticator.check(scope)
        except ServiceError as refused:
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008,
                            "reason": f"{refused.code}: {refused.message}"[:120]})
                return
            return await error_response(refused)(scope, receive, send)
        await self.app(scope, receive, send)
