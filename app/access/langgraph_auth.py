"""Auth for `langgraph dev` (langgraph.json `auth`): the service's API keys, and one owner per thread.

langgraph-api calls `authenticate` on every request but `/ok`, `/info`, `/docs` and the
like. The key is presented as to the service (app/access/credentials.py); the user it
returns is the key's owner, its permissions the key's scopes, and langgraph-api hands both
to the graph (`graphs.context.run_caller` reads them from the run's `server_info`). As in
the service, with no key ever created (and without AUTH_REQUIRED) the caller is the local
owner, but only when it is on this machine (app/access/local_only.py): `langgraph dev`
allows any CORS origin.

The `@auth.on` handlers keep owners apart: what is created carries `metadata.owner`, and
reads, searches, updates and deletes only see the caller's own. The system's assistants
(one per graph) are readable by everyone; an admin may read and resume a run in any
owner's thread, as it approves tool calls in any conversation of the service.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

from langgraph_sdk import Auth
from starlette.requests import Request

from app.access.credentials import local_caller_refusal, presented_key
from app.access.keys import LOCAL_PRINCIPAL, KeyStore, Principal
from app.access.local_only import LOCAL_ONLY_HINT
from app.settings import load_settings

auth = Auth()
UNAUTHORIZED = {"WWW-Authenticate": "Bearer"}
ADMIN_IN_ANY_THREAD = ("read", "create_run")  # threads actions an admin may take in another owner's thread


@functools.cache  # langgraph-api calls module-level handlers: the key store is opened once per process
def _keys() -> KeyStore:
    settings = load_settings()
    return KeyStore(settings.ledger_url, settings.auth_required)


def _principal(request: Request) -> Principal:
    """The caller's principal (blocking: it reads the key table), or an HTTPException."""
    keys = _keys()
    key = presented_key(request.scope)  # the service's rule: Bearer or X-API-Key
    if key is not None and (principal := keys.authenticate(key)) is not None:
        if not principal.may("chat"):
            raise Auth.exceptions.HTTPException(403, detail="this API key lacks the 'chat' scope")
        return principal
    if keys.keys_configured():
        detail = "the API key is not valid (unknown or revoked)" if key else \
            "an API key is required (Authorization: Bearer or X-API-Key)"
        raise Auth.exceptions.HTTPException(401, detail=detail, headers=UNAUTHORIZED)
    # Local-only mode: only the TCP peer counts, never a forwarded address.
    if refusal := local_caller_refusal(request.scope):
        raise Auth.exceptions.HTTPException(403, detail=f"{refusal}; {LOCAL_ONLY_HINT}")
    return LOCAL_PRINCIPAL


@auth.authenticate
async def authenticate(request: Request) -> Auth.types.MinimalUserDict:
    principal = await asyncio.to_thread(_principal, request)
    return {"identity": principal.owner, "display_name": principal.owner, "is_authenticated": True,
            "permissions": sorted(principal.scopes)}


def _stamp_owner(ctx: Auth.types.AuthContext, value: dict[str, Any]) -> None:
    """What the caller creates or changes is, and stays, the caller's (a client's `owner` is overwritten)."""
    if value.get("metadata") is None:
        value["metadata"] = {}
    value["metadata"]["owner"] = ctx.user.identity  # in place: langgraph-api keeps using this dict


@auth.on
async def owner_only(ctx: Auth.types.AuthContext, value: Any) -> Auth.types.FilterType | None:
    """Threads, runs and crons: each owner sees and changes only its own."""
    if isinstance(value, dict) and ctx.action in ("create", "create_run", "update"):
        _stamp_owner(ctx, value)
    if ctx.resource == "threads" and ctx.action in ADMIN_IN_ANY_THREAD and "admin" in ctx.permissions:
        return None
    return {"owner": ctx.user.identity}


@auth.on.assistants
async def own_or_system_assistants(ctx: Auth.types.AuthContext, value: Any) -> Auth.types.FilterType:
    """Everyone may read the graphs' own assistants; an assistant someone creates is theirs."""
    if ctx.action in ("read", "search"):
        return {"$or": [{"owner": ctx.user.identity}, {"created_by": "system"}]}
    if ctx.action in ("create", "update"):
        if (value.get("metadata") or {}).get("created_by") == "system":
            raise Auth.exceptions.HTTPException(403, detail="metadata.created_by 'system' is reserved")
        _stamp_owner(ctx, value)
    return {"owner": ctx.user.identity}


@auth.on.store
async def own_namespace(ctx: Auth.types.AuthContext, value: Any) -> None:
    """The store is per owner: every namespace is put under the caller's own."""
    value["namespace"] = (ctx.user.identity, *(value.get("namespace") or ()))
