"""`POST /feedback`: a user's rating of one answer, for the quality review and evaluation."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends

from app.chat.turn import conversation_not_found, turn_lock
from app.conversations.registry import find_answer
from app.errors import ApiError
from app.gateway.dependencies import get_owner, get_services
from app.gateway.schemas import FeedbackRecord, FeedbackRequest
from app.services import Services

router = APIRouter(tags=["feedback"])


@router.post("/feedback", response_model=FeedbackRecord, status_code=201)
async def give_feedback(body: FeedbackRequest, services: Annotated[Services, Depends(get_services)],
                        owner: Annotated[str, Depends(get_owner)]) -> FeedbackRecord:
    """Rate an answer (1 helpful, -1 not); rating the same answer again replaces the rating."""
    # Another owner's conversation is as unknown as a missing one.
    if await asyncio.to_thread(services.conversations.get, body.conversation_id, owner) is None:
        raise conversation_not_found(body.conversation_id)
    # A stream's `final` event comes before the turn's checkpoint is written: wait for the turn.
    # The rating is stored under the same lock, so a deletion cannot slip in between and
    # leave a copy of the answer's text behind.
    async with turn_lock(body.conversation_id):
        answer = await find_answer(services.checkpointer, body.conversation_id, body.message_id)
        if answer is None:
            raise ApiError(404, "message_not_found", f"conversation {body.conversation_id} has no answer "
                           f"{body.message_id}", {"message_id": body.message_id})
        stored = await asyncio.to_thread(services.feedback.record, conversation_id=body.conversation_id,
                                         message_id=body.message_id, owner=owner, rating=body.rating,
                                         comment=body.comment, **answer)
    return FeedbackRecord.model_validate(stored)
