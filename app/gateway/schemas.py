"""Request and response bodies of the HTTP API (a turn's response and events: app/chat/events.py)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.chat.events import PendingApproval, Source

CONVERSATION_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    # The upper bound is MAX_MESSAGE_CHARS (a setting): the turn's admission checks it (422 message_too_long).
    message: str = Field(min_length=1, examples=["How do I deploy a model?"])
    conversation_id: str | None = Field(default=None, pattern=CONVERSATION_ID_PATTERN, examples=["abc123"])


class ApprovalRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    approved: bool
    comment: str | None = Field(default=None, max_length=500)


class FeedbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    conversation_id: str = Field(pattern=CONVERSATION_ID_PATTERN)
    message_id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,100}$", description="the answer's `message_id`")
    rating: Literal[1, -1] = Field(description="1: helpful, -1: not helpful")
    comment: str | None = Field(default=None, max_length=2000)


class FeedbackRecord(BaseModel):
    conversation_id: str
    message_id: str
    rating: int
    comment: str | None
    question: str
    answer: str
    cited: list[str]
    created_at: float  # Unix seconds


class Conversation(BaseModel):
    id: str
    status: Literal["active", "archived"]
    created_at: float  # Unix seconds
    updated_at: float  # when its last turn ended
    turns: int
    title: str | None = None  # its first question, until its owner renames it


class RenameRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = Field(min_length=1, max_length=200)


class Message(BaseModel):
    role: str  # user, assistant
    content: str
    id: str | None = None  # an answer's message id (for POST /feedback)
    sources: list[Source] = Field(default_factory=list)  # what an answer's [n] cite


class ConversationDetail(Conversation):
    messages: list[Message]
    pending_approval: PendingApproval | None = None  # a tool call of it that waits for a decision


class ConversationList(BaseModel):
    conversations: list[Conversation]


class ConversationStats(BaseModel):
    conversations: int
    by_status: dict[str, dict[str, int]]
    turns: int
    mean_turns: float
    oldest: float | None
    latest_turn: float | None


class ApprovalFrame(ApprovalRequest):
    """A WebSocket frame that decides on a tool call waiting for approval."""

    conversation_id: str = Field(pattern=CONVERSATION_ID_PATTERN)
