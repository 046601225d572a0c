"""Deleting a conversation: its checkpoints and every other copy of its text."""

from __future__ import annotations

import asyncio

from langgraph.checkpoint.base import BaseCheckpointSaver

from app.conversations.registry import ConversationRegistry
from app.ledgers.feedback import FeedbackStore
from app.ledgers.tool_calls import ToolCallLedger
from app.llm.response_cache import ResponseCache


async def delete_conversation(registry: ConversationRegistry, checkpointer: BaseCheckpointSaver,
                              conversation_id: str, *, feedback: FeedbackStore | None,
                              tool_calls: ToolCallLedger | None, cache: ResponseCache | None) -> None:
    """Delete the conversation and every copy of its text.

    The stores are required (None only where there is none) so that no caller forgets a
    copy: the feedback copies of its questions and answers and their comments, its tool
    calls' arguments and errors, the cached answers its turns wrote. Ratings, tool-call
    outcomes and durations and the usage ledger (no text) stay for the counts. The
    registry row goes last: a failure on the way (Redis down) leaves it to delete again.
    """
    if cache is not None:
        await cache.forget_conversation(conversation_id)  # CacheUnavailable: nothing else is gone yet
    for store in (feedback, tool_calls):
        if store is not None:
            await asyncio.to_thread(store.forget_conversation, conversation_id)
    await checkpointer.adelete_thread(conversation_id)
    await asyncio.to_thread(registry.forget, conversation_id)
