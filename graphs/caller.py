"""Who runs the graph, from the run's config: the owner and the API-key scopes of the caller.

Two servers run this graph. `langgraph dev` (langgraph-api) puts the user its auth handler
(`app/langgraph_auth.py`) returned into `configurable` as `langgraph_auth_user`,
`langgraph_auth_user_id` and `langgraph_auth_permissions`; it strips these keys from what
a client sends and sets them itself on every run, so when any of them is there it is the
only truth (a client's own `configurable["owner"]` or `["scopes"]` is then ignored). Our
FastAPI service runs the graph in-process and sets `configurable["owner"]` and
`["scopes"]` itself, from the request's API key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

LANGGRAPH_AUTH_KEYS = ("langgraph_auth_user", "langgraph_auth_user_id", "langgraph_auth_permissions")


def _authenticated(user: Any) -> bool:
    if user is None:  # langgraph-api stores an unauthenticated user as None
        return False
    if isinstance(user, Mapping):
        return bool(user.get("is_authenticated", True))
    return bool(getattr(user, "is_authenticated", True))


def caller_from_config(config: Mapping[str, Any] | None) -> tuple[str | None, frozenset[str] | None]:
    """(owner, scopes) of the caller; None for what is not known (the tools then fail closed)."""
    configurable = (config or {}).get("configurable") or {}
    if any(key in configurable for key in LANGGRAPH_AUTH_KEYS):
        owner = configurable.get("langgraph_auth_user_id")
        if not owner or not _authenticated(configurable.get("langgraph_auth_user")):
            return None, None
        return str(owner), frozenset(str(p) for p in configurable.get("langgraph_auth_permissions") or ())
    owner, scopes = configurable.get("owner"), configurable.get("scopes")
    return (str(owner) if owner else None,
            frozenset(str(s) for s in scopes) if isinstance(scopes, list | tuple | set | frozenset) else None)
