"""FastAPI dependencies: the running chatbot and the caller, for HTTP routes and WebSockets alike.

Every dependency takes an `HTTPConnection`, so one definition serves both, and is
`async` (FastAPI runs a plain function in a worker thread: a hop per dependency per
request, for a lookup that never blocks). Routes declare
what a caller needs with `require_scope` (`ChatCaller`, `AdminCaller`); the OpenAPI
document publishes the API-key security schemes they use. Who the caller is was settled
by the authentication middleware (app/gateway/authentication.py); a connection it did not
settle is refused here (fail closed).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Security, WebSocketException
from fastapi.security import APIKeyHeader, HTTPBearer
from starlette.requests import HTTPConnection

from app.access.keys import Principal
from app.chat.turn import Chat
from app.chatbot import Chatbot
from app.errors import ErrorCode, ServiceError
from app.services import Services

# Published in the OpenAPI document; the middleware reads the same headers.
BEARER = HTTPBearer(scheme_name="ApiKeyBearer", auto_error=False,
                    description="an API key (`chatbot keys create`): `Authorization: Bearer cb_...`")
API_KEY = APIKeyHeader(name="X-API-Key", scheme_name="ApiKeyHeader", auto_error=False,
                       description="an API key, in place of the Bearer header")


async def get_chatbot(connection: HTTPConnection) -> Chatbot:
    return connection.app.state.chatbot


async def get_services(connection: HTTPConnection) -> Services:
    return connection.app.state.chatbot.services


async def get_chat(connection: HTTPConnection) -> Chat:
    return connection.app.state.chatbot.chat


def principal_of(connection: HTTPConnection) -> Principal:
    """Who is calling, as the authentication middleware found (never assumed: fail closed)."""
    principal = getattr(connection.state, "principal", None)
    if principal is None:
        raise ServiceError(ErrorCode.UNAUTHORIZED, "the request was not authenticated")
    return principal


def require_scope(scope: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency: the caller, who must hold `scope` (scopes a key does not know grant nothing)."""

    async def caller(connection: HTTPConnection, _bearer: Annotated[object, Security(BEARER)] = None,
                     _api_key: Annotated[object, Security(API_KEY)] = None) -> Principal:
        principal = principal_of(connection)
        if not principal.may(scope):
            refused = ServiceError(ErrorCode.FORBIDDEN, scope=scope)
            if connection.scope["type"] == "websocket":  # closed before it is accepted, as the middleware does
                raise WebSocketException(code=1008, reason=f"{refused.code}: {refused.message}")
            raise refused
        return principal

    caller.__name__ = f"require_{scope}_scope"
    return caller


ChatbotDep = Annotated[Chatbot, Depends(get_chatbot)]
ServicesDep = Annotated[Services, Depends(get_services)]
ChatDep = Annotated[Chat, Depends(get_chat)]
chat_caller, admin_caller = require_scope("chat"), require_scope("admin")
ChatCaller = Annotated[Principal, Depends(chat_caller)]
AdminCaller = Annotated[Principal, Depends(admin_caller)]


async def current_owner(caller: ChatCaller) -> str:
    """Whose conversations the caller reads and writes: the key's owner (or the local owner)."""
    return caller.owner


OwnerDep = Annotated[str, Depends(current_owner)]


async def spend_tokens(services: Services, principal: Principal, tokens: int) -> None:
    """Count a turn's model tokens against the caller's daily budget (keys only)."""
    if principal.key_prefix:
        await services.rate_limits.spend_tokens(principal.key_prefix, tokens)
