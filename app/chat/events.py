"""What a turn produces: its stream of events and, at the end, its response."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel


class Source(BaseModel):
    index: int
    document_id: str | None
    title: str | None
    section: str | None = None
    source: str | None = None
    score: float | None = None


class Usage(BaseModel):
    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0


class ChatResponse(BaseModel):
    conversation_id: str
    message_id: str | None = None  # the answer's id in the conversation (for POST /feedback)
    answer: str
    sources: list[Source]
    route: Literal["knowledge", "tool", "direct", "blocked"]
    provider: str
    degraded: bool = False
    cached: bool = False  # answered from the response cache
    usage: Usage
    tool: dict[str, Any] | None = None
    # A tool call waiting for a person's decision: {"tool", "arguments", "reason"}.
    pending_approval: dict[str, Any] | None = None
