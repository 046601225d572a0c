"""`POST /chat`, `POST /chat/stream` (Server-Sent Events) and `WS /ws/chat`."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

from fastapi import APIRouter, Depends, Request, WebSocket, WebSocketDisconnect
from pydantic import ValidationError
from sse_starlette import EventSourceResponse

from app.chat.turn import (
    Turn,
    approval_owner,
    approval_pending_error,
    check_message,
    claim_conversation,
    new_conversation_id,
    overloaded_error,
    pending_approval,
    run_turn,
    stream_turn,
)
from app.errors import ApiError, error_body, validation_error_code
from app.gateway.dependencies import get_owner, get_services, get_ws_owner, get_ws_services, principal_of, spend_tokens
from app.gateway.schemas import ApprovalFrame, ChatRequest, ChatResponse
from app.llm.gate import Overloaded
from app.services import Services

router = APIRouter(tags=["chat"])
ServicesDep = Annotated[Services, Depends(get_services)]
OwnerDep = Annotated[str, Depends(get_owner)]


def _refuse_when_overloaded(services: Services) -> None:
    """A full queue answers 503 before the turn costs anything (the turn checks again)."""
    try:
        if services.gate is not None:
            services.gate.check()
    except Overloaded as exc:
        raise overloaded_error(exc) from None


@router.post("/chat", response_model=ChatResponse)
async def chat(request: ChatRequest, http: Request, services: ServicesDep, owner: OwnerDep) -> ChatResponse:
    check_message(request, services.settings.max_message_chars)
    _refuse_when_overloaded(services)
    conversation_id = request.conversation_id or new_conversation_id()
    new = await claim_conversation(services.conversations, conversation_id, owner)
    turn = Turn(conversation_id, request.message, owner, new=new, scopes=principal_of(http).scopes)
    response = await run_turn(services.graph, turn, services.gate, services.conversations)
    await spend_tokens(services, http, response.usage.total_tokens)
    return response


@router.post("/chat/stream", response_class=EventSourceResponse)
async def chat_stream(request: ChatRequest, http: Request, services: ServicesDep,
                      owner: OwnerDep) -> EventSourceResponse:
    check_message(request, services.settings.max_message_chars)
    _refuse_when_overloaded(services)  # while a status code can still be sent
    conversation_id = request.conversation_id or new_conversation_id()
    new = await claim_conversation(services.conversations, conversation_id, owner)
    if not new and (pending := await pending_approval(services.graph, conversation_id)):
        raise approval_pending_error(pending)  # while a status code can still be sent

    async def events():
        turn = Turn(conversation_id, request.message, owner, new=new, scopes=principal_of(http).scopes)
        async for event in stream_turn(services.graph, turn, services.gate, services.conversations):
            if event.event == "final":
                await spend_tokens(services, http, event.data["usage"]["total_tokens"])
            yield {"event": event.event, "data": json.dumps(event.data)}

    return EventSourceResponse(events(), ping=15)


async def _still_allowed(websocket: WebSocket, services: Services) -> None:
    """Each frame of a key's session: the key is still valid (a revocation ends the session at
    once) and within its limits, as the middleware checks each HTTP request."""
    principal = principal_of(websocket)
    key = websocket.scope.get("state", {}).get("api_key")
    if principal.key_prefix is None:  # opened in local-only mode: it ends once a first key exists
        if await asyncio.to_thread(services.keys.keys_configured):
            raise ApiError(401, "unauthorized", "API keys are now required: reconnect with one")
        return
    if key is None:
        return
    if await asyncio.to_thread(services.keys.authenticate, key) is None:
        raise ApiError(401, "unauthorized", "the API key is not valid (unknown or revoked)")
    refusal = await services.rate_limits.admit(principal.key_prefix)
    if refusal is not None:
        raise ApiError(429, "rate_limited", f"this API key is over its {refusal.reason.replace('_', ' ')}",
                       {"retry_after": refusal.retry_after})


def _parse_ws_request(raw: str, max_chars: int) -> ChatRequest | ApprovalFrame:
    """A chat frame, or (with `approved`) a decision on a tool call waiting for approval."""
    try:
        if '"approved"' in raw:
            return ApprovalFrame.model_validate_json(raw)
        request = ChatRequest.model_validate_json(raw)
    except ValidationError as exc:
        status, code, message = validation_error_code(list(exc.errors()))
        raise ApiError(status, code, message) from None
    check_message(request, max_chars)
    return request


@router.websocket("/ws/chat")
async def chat_websocket(
    websocket: WebSocket,
    services: Annotated[Services, Depends(get_ws_services)],
    owner: Annotated[str, Depends(get_ws_owner)],
) -> None:
    """Each text frame `{"message", "conversation_id"}` gets the turn's events as JSON frames;
    `{"conversation_id", "approved", "comment"}` decides on a tool call waiting for approval."""
    await websocket.accept()
    principal = principal_of(websocket)
    max_bytes = services.settings.max_request_bytes
    try:
        while True:
            raw = await websocket.receive_text()
            try:
                await _still_allowed(websocket, services)  # every frame counts, even one that fails to parse
                if len(raw.encode("utf-8")) > max_bytes:
                    raise ApiError(413, "payload_too_large", f"frames are limited to {max_bytes} bytes")
                request = _parse_ws_request(raw, services.settings.max_message_chars)
                conversation_id = request.conversation_id or new_conversation_id()
                if isinstance(request, ApprovalFrame):
                    conversation_owner = await approval_owner(services.conversations, conversation_id, owner,
                                                              principal.may("admin"), request.approved)
                    decision = {"approved": request.approved, "comment": request.comment}
                    turn = Turn(conversation_id, "", conversation_owner, decision, scopes=principal.scopes,
                                caller=owner)
                else:
                    new = await claim_conversation(services.conversations, conversation_id, owner)
                    turn = Turn(conversation_id, request.message, owner, new=new, scopes=principal.scopes)
            except ApiError as exc:
                await websocket.send_json({"event": "error", "data": error_body(exc.code, exc.message, exc.details)})
                if exc.status in (401, 429):
                    await websocket.close(code=1008, reason=exc.code)
                    return
                continue
            async for event in stream_turn(services.graph, turn, services.gate, services.conversations):
                if event.event == "final":
                    await spend_tokens(services, websocket, event.data["usage"]["total_tokens"])
                await websocket.send_json({"event": event.event, "data": event.data})
    except WebSocketDisconnect:
        return
