"""The graph's state: the conversation plus what the current turn found and decided."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from langchain_core.documents import Document
from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages
from typing_extensions import TypedDict

Route = Literal["knowledge", "tool", "direct", "blocked"]


class ChatInput(TypedDict):
    """What a caller sends: the new message(s); the checkpoint supplies the rest."""

    messages: Annotated[list[AnyMessage], add_messages]


class ChatState(ChatInput, total=False):
    route: Route
    route_score: float
    blocked_reason: str | None
    tool_call: dict[str, Any] | None  # {"name": ..., "args": {...}}
    tool_result: dict[str, Any] | None  # ToolOutcome.as_dict()
    documents: list[Document]
    draft: str  # the model's answer before guard_output checks it
    passages_shown: int  # how many of the documents (by rank) the model's prompt held
    answer: str
    message_id: str | None  # the answer's message id: what feedback names
    sources: list[dict[str, Any]]
    provider: str
    degraded: bool
    cached: bool  # the answer came from the response cache
    usage: dict[str, int]
    summary: str  # HISTORY_SUMMARY: the conversation's first `summarized` messages, summarised
    summarized: int


class ChatOutput(TypedDict, total=False):
    """What a run returns and streams as `values`: the answer and what it cites, never the
    draft or the retrieved passages (the output guard has not checked those)."""

    messages: Annotated[list[AnyMessage], add_messages]
    route: Route
    blocked_reason: str | None
    tool_result: dict[str, Any] | None
    answer: str
    message_id: str | None
    sources: list[dict[str, Any]]
    provider: str
    degraded: bool
    cached: bool
    usage: dict[str, int]


# Every key of the state: what an in-process caller (the evals, tests) may ask a run to
# return with `output_keys`, where the public output leaves the passages out.
STATE_KEYS = tuple(ChatState.__annotations__)
