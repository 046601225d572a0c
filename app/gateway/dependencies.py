"""FastAPI dependencies: the running services and the caller, injected into thin routes."""

from __future__ import annotations

from fastapi import Request, WebSocket
from starlette.requests import HTTPConnection

from app.access.keys import Principal
from app.errors import ApiError
from app.services import Services


def get_services(request: Request) -> Services:
    return request.app.state.services


def get_ws_services(websocket: WebSocket) -> Services:
    return websocket.app.state.services


def principal_of(connection: HTTPConnection) -> Principal:
    """Who is calling, as the authentication middleware found (never assumed: fail closed)."""
    principal = getattr(connection.state, "principal", None)
    if principal is None:
        raise ApiError(401, "unauthorized", "the request was not authenticated")
    return principal


def get_owner(request: Request) -> str:
    """Whose conversations the caller reads and writes: the key's owner (or the local owner)."""
    return principal_of(request).owner


def get_ws_owner(websocket: WebSocket) -> str:
    return principal_of(websocket).owner


async def spend_tokens(services: Services, connection: HTTPConnection, tokens: int) -> None:
    """Count a turn's model tokens against the caller's daily budget (keys only)."""
    principal = getattr(connection.state, "principal", None)
    if principal is not None and principal.key_prefix and services.rate_limits is not None:
        await services.rate_limits.spend_tokens(principal.key_prefix, tokens)
