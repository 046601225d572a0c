"""The runbook's conversation operations as routes, each for the owner of the conversation.

Another owner's conversation answers 404, exactly as a missing one does.
"""

from __future__ import annotations

import asyncio
from enum import StrEnum
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import PlainTextResponse

from app.chat.turn import (
    Turn,
    approval_owner,
    conversation_not_found,
    nothing_to_approve_error,
    overloaded_error,
    pending_approval,
    run_turn,
    turn_lock,
)
from app.conversations.registry import delete_conversation, read_messages, to_markdown
from app.errors import ApiError
from app.gateway.dependencies import get_owner, get_services, principal_of, spend_tokens
from app.gateway.schemas import (
    CONVERSATION_ID_PATTERN,
    ApprovalRequest,
    ChatResponse,
    ConversationDetail,
    ConversationList,
    ConversationStats,
)
from app.llm.gate import Overloaded
from app.llm.response_cache import CacheUnavailable
from app.services import Services

router = APIRouter(prefix="/conversations", tags=["conversations"])
ServicesDep = Annotated[Services, Depends(get_services)]
OwnerDep = Annotated[str, Depends(get_owner)]
ConversationId = Annotated[str, Path(pattern=CONVERSATION_ID_PATTERN)]


class ExportFormat(StrEnum):
    json = "json"
    markdown = "markdown"


async def _owned(services: Services, conversation_id: str, owner: str) -> dict:
    record = await asyncio.to_thread(services.conversations.get, conversation_id, owner)
    if record is None:
        raise conversation_not_found(conversation_id)
    return record


@router.get("", response_model=ConversationList)
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


@router.get("/{conversation_id}", response_model=ConversationDetail)
async def get_conversation(conversation_id: ConversationId, services: ServicesDep,
                           owner: OwnerDep) -> ConversationDetail:
    record = await _owned(services, conversation_id, owner)
    messages = await read_messages(services.checkpointer, conversation_id)
    return ConversationDetail.model_validate({**record, "messages": messages})


@router.get("/{conversation_id}/export", response_model=ConversationDetail,
            responses={200: {"content": {"text/markdown": {}}}})
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


@router.post("/{conversation_id}/archive", response_model=ConversationDetail)
async def archive_conversation(conversation_id: ConversationId, services: ServicesDep,
                               owner: OwnerDep) -> ConversationDetail:
    """Archive it (again is fine); its next turn makes it active again."""
    if not await asyncio.to_thread(services.conversations.archive_one, conversation_id, owner):
        raise conversation_not_found(conversation_id)
    return await get_conversation(conversation_id, services, owner)


@router.delete("/{conversation_id}", status_code=204)
async def delete_owned_conversation(conversation_id: ConversationId, services: ServicesDep,
                                    owner: OwnerDep) -> Response:
    """Delete it with its checkpoints and every copy of its text, after any turn of it that is running here."""
    async with turn_lock(conversation_id):
        await _owned(services, conversation_id, owner)
        try:
            await delete_conversation(services.conversations, services.checkpointer, conversation_id,
                                      feedback=services.feedback, tool_calls=services.tool_calls,
                                      cache=services.dependencies.response_cache)
        except CacheUnavailable:
            raise ApiError(503, "unavailable", "the response cache cannot be reached to purge the "
                           "conversation's answers: nothing was deleted; try again") from None
    return Response(status_code=204)


@router.post("/{conversation_id}/approve", response_model=ChatResponse)
async def approve_tool_call(conversation_id: ConversationId, decision: ApprovalRequest, http: Request,
                            services: ServicesDep) -> ChatResponse:
    """Approve or reject the tool call waiting in this conversation (admin scope); the turn then completes."""
    principal = principal_of(http)
    owner = await approval_owner(services.conversations, conversation_id, principal.owner, principal.may("admin"),
                                 decision.approved)
    if await pending_approval(services.graph, conversation_id) is None:
        raise nothing_to_approve_error(conversation_id)
    try:
        if services.gate is not None:
            services.gate.check()
    except Overloaded as exc:
        raise overloaded_error(exc) from None
    turn = Turn(conversation_id, "", owner, decision.model_dump(), scopes=principal.scopes, caller=principal.owner)
    response = await run_turn(services.graph, turn, services.gate, services.conversations)
    await spend_tokens(services, http, response.usage.total_tokens)
    return response
