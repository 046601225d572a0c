"""`POST /chat` (the whole answer) and `POST /chat/stream` (its events as Server-Sent Events)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from fastapi import APIRouter
from sse_starlette import EventSourceResponse

from app.access.keys import Principal
from app.chat.events import ChatResponse, FinalEvent
from app.chat.turn import Turn, TurnStream
from app.gateway.dependencies import ChatCaller, ChatDep, ServicesDep, spend_tokens
from app.gateway.openapi import EVENT_STREAM, errors
from app.gateway.schemas import ChatRequest
from app.services import Services

router = APIRouter(tags=["chat"])
TURN_ERRORS = errors(404, 409, 413, 422, 429, 503)


@router.post("/chat", response_model=ChatResponse, responses=TURN_ERRORS)
async def chat(request: ChatRequest, caller: ChatCaller, chat: ChatDep, services: ServicesDep) -> ChatResponse:
    """One turn, answered whole."""
    response = await chat.run(Turn.ask(caller, request.message, request.conversation_id))
    await spend_tokens(services, caller, response.usage.total_tokens)
    return response


async def _server_sent(stream: TurnStream, services: Services, caller: Principal) -> AsyncIterator[dict[str, str]]:
    """The turn's events; a client that goes away (the page's Stop) closes the turn: the model stops."""
    try:
        async for event in stream:
            if isinstance(event, FinalEvent):
                await spend_tokens(services, caller, event.usage.total_tokens)
            yield {"event": event.name, "data": json.dumps(event.payload())}
    finally:
        await stream.aclose()


@router.post("/chat/stream", response_class=EventSourceResponse, responses={200: EVENT_STREAM, **TURN_ERRORS})
async def chat_stream(request: ChatRequest, caller: ChatCaller, chat: ChatDep,
                      services: ServicesDep) -> EventSourceResponse:
    """The same turn, its events as they happen: `metadata`, `token`..., `sources`, `final` (or `error`)."""
    stream = await chat.open(Turn.ask(caller, request.message, request.conversation_id))  # refusals: a status
    return EventSourceResponse(_server_sent(stream, services, caller), ping=15)
