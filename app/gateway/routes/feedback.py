"""`POST /feedback`: a user's rating of one answer, for the quality review and evaluation."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter

from app.conversations.transcripts import find_answer
from app.errors import ErrorCode, ServiceError
from app.gateway.dependencies import ChatDep, OwnerDep, ServicesDep
from app.gateway.openapi import errors
from app.gateway.schemas import FeedbackRecord, FeedbackRequest

router = APIRouter(tags=["feedback"])


@router.post("/feedback", response_model=FeedbackRecord, status_code=201, responses=errors(404, 422))
async def give_feedback(body: FeedbackRequest, services: ServicesDep, chat: ChatDep,
                        owner: OwnerDep) -> FeedbackRecord:
    """Rate an answer (1 helpful, -1 not); rating the same answer again replaces the rating."""
    # Another owner's conversation is as unknown as a missing one.
    if await asyncio.to_thread(services.conversations.get, body.conversation_id, owner) is None:
        raise ServiceError(ErrorCode.CONVERSATION_NOT_FOUND, conversation_id=body.conversation_id)
    # A stream's `final` event comes before the turn's checkpoint is written: wait for the turn.
    # The rating is stored under the same lock, so a deletion cannot slip in between and
    # leave a copy of the answer's text behind.
    async with chat.locks.hold(body.conversation_id):
        answer = await find_answer(services.checkpointer, body.conversation_id, body.message_id)
        if answer is None:
            raise ServiceError(ErrorCode.MESSAGE_NOT_FOUND, details={"message_id": body.message_id},
                               conversation_id=body.conversation_id, message_id=body.message_id)
        stored = await asyncio.to_thread(services.feedback.record, conversation_id=body.conversation_id,
                                         message_id=body.message_id, owner=owner, rating=body.rating,
                                         comment=body.comment, **answer)
    return FeedbackRecord.model_validate(stored)
