"""The runbook's conversation operations as routes, each for the owner of the conversation.

Another owner's conversation answers 404, exactly as a missing one does.
"""

from __future__ import annotations

import asyncio
from enum import StrEnum
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Response
from fastapi.responses import PlainTextResponse

from app.chat.events import ChatResponse
from app.chat.turn import Turn
from app.conversations.deletion import delete_conversation
from app.conversations.transcripts import read_messages, to_markdown
from app.errors import ErrorCode, ServiceError
from app.gateway.dependencies import ChatCaller, ChatDep, OwnerDep, ServicesDep, spend_tokens
from app.gateway.openapi import errors
from app.gateway.schemas import (
    CONVERSATION_ID_PATTERN,
    ApprovalRequest,
    ConversationDetail,
    ConversationList,
    ConversationStats,
    RenameRequest,
)
from app.llm.response_cache import CacheUnavailable
from app.services import Services

router = APIRouter(prefix="/conversations", tags=["conversations"])
ConversationId = Annotated[str, Path(pattern=CONVERSATION_ID_PATTERN)]
NOT_FOUND = errors(404, 422)


class ExportFormat(StrEnum):
    json = "json"
    markdown = "markdown"


async def _owned(services: Services, conversation_id: str, owner: str) -> dict[str, Any]:
    record = await asyncio.to_thread(services.conversations.get, conversation_id, owner)
    if record is None:
        raise ServiceError(ErrorCode.CONVERSATION_NOT_FOUND, conversation_id=conversation_id)
    return record


@router.get("", response_model=ConversationList, responses=errors(422))
async def list_conversations(
    services: ServicesDep,
    owner: OwnerDep,
    status: Literal["active", "archived"] | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 20,
) -> ConversationList:
    """The caller's conversations, the most recent first."""
    rows = await asyncio.to_thread(services.conversations.list, status, limit, owner)
    return ConversationList.model_validate({"conversations": rows})


@router.get("/stats", response_model=ConversationStats)
async def conversation_stats(services: ServicesDep, owner: OwnerDep) -> ConversationStats:
    return ConversationStats.model_validate(await asyncio.to_thread(services.conversations.stats, owner))


@router.get("/{conversation_id}", response_model=ConversationDetail, responses=NOT_FOUND)
async def get_conversation(conversation_id: ConversationId, services: ServicesDep, chat: ChatDep,
                           owner: OwnerDep) -> ConversationDetail:
    """Its record, its messages (answers with their sources) and any tool call that waits for approval."""
    record = await _owned(services, conversation_id, owner)
    messages = await read_messages(services.checkpointer, conversation_id)
    pending = await chat.pending_approval(conversation_id)
    return ConversationDetail.model_validate({**record, "messages": messages, "pending_approval": pending})


@router.get("/{conversation_id}/export", response_model=ConversationDetail,
            responses={200: {"content": {"text/markdown": {}}}, **NOT_FOUND})
async def export_conversation(conversation_id: ConversationId, services: ServicesDep, owner: OwnerDep,
                              format: ExportFormat = ExportFormat.json) -> Response:
    """The whole conversation as a download: JSON or Markdown."""
    record = await _owned(services, conversation_id, owner)
    messages = await read_messages(services.checkpointer, conversation_id)
    filename = f"conversation-{conversation_id}.{'md' if format is ExportFormat.markdown else 'json'}"
    headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
    if format is ExportFormat.markdown:
        return PlainTextResponse(to_markdown(record, messages), media_type="text/markdown", headers=headers)
    body = ConversationDetail.model_validate({**record, "messages": messages})
    return Response(body.model_dump_json(indent=2), media_type="application/json", headers=headers)


@router.patch("/{conversation_id}", response_model=ConversationDetail, responses=NOT_FOUND)
async def rename_conversation(conversation_id: ConversationId, rename: RenameRequest, services: ServicesDep,
                              chat: ChatDep, owner: OwnerDep) -> ConversationDetail:
    """Give it a title (the chat page's list shows it; new conversations are titled by their first question)."""
    if not await asyncio.to_thread(services.conversations.rename, conversation_id, rename.title, owner):
        raise ServiceError(ErrorCode.CONVERSATION_NOT_FOUND, conversation_id=conversation_id)
    return await get_conversation(conversation_id, services, chat, owner)


@router.post("/{conversation_id}/archive", response_model=ConversationDetail, responses=NOT_FOUND)
async def archive_conversation(conversation_id: ConversationId, services: ServicesDep, chat: ChatDep,
                               owner: OwnerDep) -> ConversationDetail:
    """Archive it (again is fine); its next turn makes it active again."""
    if not await asyncio.to_thread(services.conversations.archive_one, conversation_id, owner):
        raise ServiceError(ErrorCode.CONVERSATION_NOT_FOUND, conversation_id=conversation_id)
    return await get_conversation(conversation_id, services, chat, owner)


@router.delete("/{conversation_id}", status_code=204, responses=errors(404, 422, 503))
async def delete_owned_conversation(conversation_id: ConversationId, services: ServicesDep, chat: ChatDep,
                                    owner: OwnerDep) -> Response:
    """Delete it with its checkpoints and every copy of its text, after any turn of it that is running here."""
    async with chat.locks.hold(conversation_id):
        await _owned(services, conversation_id, owner)
        try:
            await delete_conversation(services.conversations, services.checkpointer, conversation_id,
                                      feedback=services.feedback, tool_calls=services.tool_calls,
                                      cache=services.response_cache)
        except CacheUnavailable:
            raise ServiceError(ErrorCode.UNAVAILABLE, "the response cache cannot be reached to purge the "
                               "conversation's answers: nothing was deleted; try again") from None
    return Response(status_code=204)


@router.post("/{conversation_id}/approve", response_model=ChatResponse, responses=errors(403, 404, 409, 422, 503))
async def approve_tool_call(conversation_id: ConversationId, decision: ApprovalRequest, caller: ChatCaller,
                            chat: ChatDep, services: ServicesDep) -> ChatResponse:
    """Approve (admin scope) or reject (also its owner) the tool call waiting in this conversation; the turn
    then completes."""
    response = await chat.run(Turn.decide(caller, conversation_id, decision.approved, decision.comment))
    await spend_tokens(services, caller, response.usage.total_tokens)
    return response
