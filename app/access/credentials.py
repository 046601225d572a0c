"""How a request presents who it is: its API key, and whether it comes from this machine.

The key comes from `Authorization: Bearer`, `X-API-Key`, or (WebSockets only, since
browsers cannot set their headers) the `api_key` query parameter. The same rule serves the
gateway and `langgraph dev` (app/access/langgraph_auth.py).
"""

from __future__ import annotations

from urllib.parse import parse_qs

from starlette.types import Scope

from app.access.local_only import local_only_refusal


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
    """Why this connection may not act as the local owner in local-only mode (None: it may)."""
    headers = header_map(scope)
    peer = scope.get("client")
    return local_only_refusal(peer[0] if peer else None, headers.get("host"), set(headers))
