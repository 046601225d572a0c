"""A conversation's messages as its checkpoints hold them, and as the runbook's exports show them."""

from __future__ import annotations

import datetime as dt
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver


async def read_messages(checkpointer: BaseCheckpointSaver, conversation_id: str) -> list[dict[str, Any]]:
    """The conversation's messages from its latest checkpoint, as `{"role", "content", "id"}`, with
    the `sources` an answer cites."""
    found = await checkpointer.aget_tuple({"configurable": {"thread_id": conversation_id, "checkpoint_ns": ""}})
    if found is None:
        return []
    messages = found.checkpoint.get("channel_values", {}).get("messages", [])
    return [{"role": {"human": "user", "ai": "assistant"}.get(m.type, m.type), "content": str(m.content),
             "id": m.id, **({"sources": m.response_metadata.get("sources", [])} if m.type == "ai" else {})}
            for m in messages]


async def find_answer(checkpointer: BaseCheckpointSaver, conversation_id: str,
                      message_id: str) -> dict[str, Any] | None:
    """An answer of the conversation by its message id, with the question it answered and what it cited."""
    found = await checkpointer.aget_tuple({"configurable": {"thread_id": conversation_id, "checkpoint_ns": ""}})
    messages = found.checkpoint.get("channel_values", {}).get("messages", []) if found else []
    for position, message in enumerate(messages):
        if message.type == "ai" and message.id == message_id:
            question = next((str(m.content) for m in reversed(messages[:position]) if m.type == "human"), "")
            return {"question": question, "answer": str(message.content),
                    "cited": list(message.response_metadata.get("cited", []))}
    return None


def format_time(timestamp: float | None) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%d %H:%M UTC") if timestamp else "-"


def to_markdown(record: dict[str, Any], messages: list[dict[str, Any]]) -> str:
    """The runbook's Markdown export: a title, the status line, then each message."""
    lines = [f"# Conversation {record['id']}", "",
             f"Status: {record['status']}; last turn: {format_time(record.get('updated_at'))}", ""]
    for message in messages:
        lines += [f"**{message['role']}**: {message['content']}", ""]
    return "\n".join(lines)
