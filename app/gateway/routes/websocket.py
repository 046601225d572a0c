"""`WS /ws/chat`: turns over one WebSocket, each frame checked as an HTTP request is.

A text frame `{"message", "conversation_id"?}` starts a turn; `{"conversation_id",
"approved", "comment"?}` decides on the tool call waiting for approval. Each turn's
events come back as `{"event", "data"}` frames, the same events as `POST /chat/stream`.
A frame that is refused gets an `error` frame; a key that is no longer valid or is over
its limits also closes the socket (1008).
"""

from __future__ import annotations

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from pydantic import ValidationError

from app.access.keys import Principal
from app.chat.events import ErrorEvent, FinalEvent
from app.chat.turn import Turn
from app.errors import ErrorCode, ServiceError, validation_error
from app.gateway.authentication import Authenticator
from app.gateway.dependencies import ChatbotDep, ChatCaller, spend_tokens
from app.gateway.schemas import ApprovalFrame, ChatRequest

router = APIRouter(tags=["chat"])
CLOSING = (ErrorCode.UNAUTHORIZED, ErrorCode.RATE_LIMITED)  # refusals that end the session


def _turn(raw: str, caller: Principal, max_bytes: int) -> Turn:
    """The turn a text frame asks for, or the `ServiceError` that refuses it."""
    if len(raw.encode("utf-8")) > max_bytes:
        raise ServiceError(ErrorCode.PAYLOAD_TOO_LARGE, f"frames are limited to {max_bytes} bytes")
    try:
        if '"approved"' in raw:
            decision = ApprovalFrame.model_validate_json(raw)
            return Turn.decide(caller, decision.conversation_id, decision.approved, decision.comment)
        request = ChatRequest.model_validate_json(raw)
    except ValidationError as exc:
        raise validation_error(list(exc.errors())) from None
    return Turn.ask(caller, request.message, request.conversation_id)


@router.websocket("/ws/chat")
async def chat_websocket(websocket: WebSocket, bot: ChatbotDep, caller: ChatCaller) -> None:
    await websocket.accept()
    authenticator: Authenticator = websocket.app.state.authenticator
    max_bytes = bot.settings.max_request_bytes
    try:
        while True:
            raw = await websocket.receive_text()
            try:
                await authenticator.check(websocket.scope)  # every frame counts, even one that fails to parse
                stream = await bot.chat.open(_turn(raw, caller, max_bytes))
            except ServiceError as refused:
                await websocket.send_json(ErrorEvent.of(refused).frame())
                if refused.code in CLOSING:
                    await websocket.close(code=1008, reason=str(refused.code))
                    return
                continue
            try:
                async for event in stream:
                    if isinstance(event, FinalEvent):
                        await spend_tokens(bot.services, caller, event.usage.total_tokens)
                    await websocket.send_json(event.frame())
            finally:
                await stream.aclose()
    except WebSocketDisconnect:
        return
