"""What a turn produces: a stream of typed events, the last of which is its response.

The turn (app/chat/turn.py) produces these once; every transport carries them unchanged:
Server-Sent Events as `event: <name>` / `data: <payload>`, the WebSocket as
`{"event": <name>, "data": <payload>}` frames, LangServe's stream as the same dicts, and
`POST /chat` returns the `final` event's response. In order: `metadata` (the route), then
`token`s as the answer is written (`restart`: a provider failed mid-answer, drop the
tokens so far), `approval_required` when a tool call waits for a person, `sources`, and
`final`; or `error`, which ends the stream.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.errors import ErrorCode, ErrorDetail, ErrorEnvelope, ServiceError

Route = Literal["knowledge", "tool", "direct", "blocked"]


class Source(BaseModel):
    index: int  # the n of its [n] in the answer
    chunk_id: str | None = None  # the passage cited (GET /sources/{chunk_id})
    document_id: str | None
    title: str | None
    section: str | None = None
    source: str | None = None
    score: float | None = None


class Usage(BaseModel):
    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0


class PendingApproval(BaseModel):
    """A tool call waiting for a person's decision."""

    tool: str
    arguments: dict[str, Any]
    reason: str


class ChatResponse(BaseModel):
    conversation_id: str
    message_id: str | None = None  # the answer's id in the conversation (for POST /feedback)
    answer: str
    sources: list[Source]
    route: Route
    provider: str
    degraded: bool = False
    cached: bool = False  # answered from the response cache
    usage: Usage
    tool: dict[str, Any] | None = None
    # A tool call waiting for a person's decision: {"tool", "arguments", "reason"}.
    pending_approval: dict[str, Any] | None = None


class TurnEvent(BaseModel):
    """An event of a turn's stream; `payload()` is what goes on the wire as its data."""

    model_config = ConfigDict(frozen=True)
    name: ClassVar[str]

    def payload(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def frame(self) -> dict[str, Any]:
        """The WebSocket frame (and LangServe chunk) of this event."""
        return {"event": self.name, "data": self.payload()}


class MetadataEvent(TurnEvent):
    name: ClassVar[str] = "metadata"
    conversation_id: str
    route: Route


class TokenEvent(TurnEvent):
    name: ClassVar[str] = "token"
    text: str

    def payload(self) -> dict[str, Any]:  # the most frequent event: no serializer needed
        return {"text": self.text}


class RestartEvent(TurnEvent):
    """The provider failed mid-answer: drop the tokens so far; the next provider starts over."""

    name: ClassVar[str] = "restart"
    provider: str
    reason: str


class ApprovalRequiredEvent(PendingApproval, TurnEvent):
    name: ClassVar[str] = "approval_required"


class SourcesEvent(TurnEvent):
    name: ClassVar[str] = "sources"
    sources: list[Source] = Field(default_factory=list)


class FinalEvent(ChatResponse, TurnEvent):
    """The whole response: what `POST /chat` returns."""

    name: ClassVar[str] = "final"


class ErrorEvent(ErrorEnvelope, TurnEvent):
    name: ClassVar[str] = "error"

    @classmethod
    def of(cls, error: ServiceError) -> ErrorEvent:
        return cls(error=ErrorDetail(code=error.code, message=error.message, details=error.details))

    def raise_it(self) -> None:
        """As the exception a collecting transport (`POST /chat`) answers with."""
        raise ServiceError(ErrorCode(self.error.code), self.error.message, details=self.error.details)


EVENT_TYPES: tuple[type[TurnEvent], ...] = (MetadataEvent, TokenEvent, RestartEvent, ApprovalRequiredEvent,
                                            SourcesEvent, FinalEvent, ErrorEvent)
