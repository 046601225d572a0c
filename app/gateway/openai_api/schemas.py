"""The OpenAI Chat Completions shapes the service accepts and answers with.

Requests are checked as OpenAI checks them: an argument it does not know is refused
(400, "Unrecognized request argument supplied"), and so is one the service cannot honour
(`n` > 1, `logprobs`, client tools, images, audio) rather than ignored. Sampling hints
(`temperature`, `top_p`, `max_tokens`, `stop`, penalties, `seed`) are accepted and left to
the service's own settings: the answer comes from the knowledge base, and clients send
them by default. Two fields are the service's own: `conversation_id` (also accepted as
`metadata.conversation_id`) continues a stored conversation of the caller, and the
response's `sources` (with `chatbot`) carry the citations of the `[n]` in the text.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.chat.client_history import ClientMessage
from app.chat.events import Source
from app.errors import ErrorCode, ServiceError
from app.gateway.schemas import CONVERSATION_ID_PATTERN

SERVED_MODEL = "chatbot-rag"
MAX_MESSAGES = 200
CONVERSATION_ID = re.compile(CONVERSATION_ID_PATTERN)


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str
    text: str | None = None


class RequestMessage(BaseModel):
    model_config = ConfigDict(extra="allow")  # `name`, `refusal`, `tool_calls`... (checked below)
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[ContentPart] | None = None

    def as_client_message(self, index: int) -> ClientMessage:
        if self.role in ("tool", "function"):
            raise unsupported(f"messages[{index}].role", f"{self.role!r} messages (the service runs its own tools)")
        if self.role == "assistant" and (self.model_extra or {}).get("tool_calls"):
            raise unsupported(f"messages[{index}].tool_calls", "client tool calls")
        if isinstance(self.content, list):
            kinds = {part.type for part in self.content} - {"text"}
            if kinds:
                raise unsupported(f"messages[{index}].content", f"{', '.join(sorted(kinds))} content (text only)")
            return ClientMessage(self.role, "\n".join(part.text or "" for part in self.content))
        return ClientMessage(self.role, self.content or "")


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    include_usage: bool = False
    include_obfuscation: bool | None = None  # the SDK may send it; the service adds no padding


class CompletionRequest(BaseModel):
    """`POST /v1/chat/completions`: OpenAI's request body, plus `conversation_id`."""

    model_config = ConfigDict(extra="forbid")
    model: str
    messages: list[RequestMessage] = Field(min_length=1, max_length=MAX_MESSAGES)
    stream: bool = False
    stream_options: StreamOptions | None = None
    user: str | None = Field(default=None, max_length=256)
    metadata: dict[str, str] | None = None
    conversation_id: str | None = Field(default=None, pattern=CONVERSATION_ID_PATTERN)
    # Accepted, and left to the service's settings.
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    stop: str | list[str] | None = None
    presence_penalty: float | None = Field(default=None, ge=-2, le=2)
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)
    seed: int | None = None
    store: bool | None = None
    parallel_tool_calls: bool | None = None
    reasoning_effort: str | None = None
    service_tier: str | None = None
    # Refused unless they ask for what the service does anyway.
    n: int | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = None
    logit_bias: dict[str, float] | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    functions: list[dict[str, Any]] | None = None
    function_call: str | dict[str, Any] | None = None
    response_format: dict[str, Any] | None = None
    modalities: list[str] | None = None
    audio: dict[str, Any] | None = None
    prediction: dict[str, Any] | None = None
    web_search_options: dict[str, Any] | None = None

    def check_supported(self) -> None:
        """Refuse, with the parameter's name, what the service cannot do."""
        refusals = (
            ("n", self.n not in (None, 1), "n > 1 (one answer per request)"),
            ("logprobs", bool(self.logprobs) or self.top_logprobs is not None, "logprobs"),
            ("logit_bias", bool(self.logit_bias), "logit_bias"),
            ("tools", bool(self.tools or self.functions), "client tools (the service runs its own)"),
            ("tool_choice", (self.tool_choice or self.function_call or "none") not in ("none", "auto"),
             "tool_choice other than 'none' or 'auto'"),
            ("response_format", (self.response_format or {"type": "text"}).get("type") != "text",
             "response formats other than text"),
            ("modalities", (self.modalities or ["text"]) != ["text"], "modalities other than text"),
            ("audio", self.audio is not None, "audio output"),
            ("prediction", self.prediction is not None, "predicted outputs"),
            ("web_search_options", self.web_search_options is not None, "web search"),
        )
        for param, refused, what in refusals:
            if refused:
                raise unsupported(param, what)
        if self.model != SERVED_MODEL:
            raise ServiceError(ErrorCode.MODEL_NOT_FOUND, details={"param": "model"}, model=self.model)

    def client_messages(self) -> list[ClientMessage]:
        messages = [m.as_client_message(i) for i, m in enumerate(self.messages)]
        if messages[-1].role != "user":
            raise ServiceError(ErrorCode.BAD_REQUEST, "the last message must be the user's question",
                               details={"param": "messages"})
        return messages

    def stored_conversation(self) -> str | None:
        """The stored conversation the request continues, if it names one."""
        named = self.conversation_id or (self.metadata or {}).get("conversation_id")
        if named is not None and not CONVERSATION_ID.fullmatch(named):
            raise ServiceError(ErrorCode.INVALID_CONVERSATION_ID, details={"param": "conversation_id"})
        return named


def unsupported(param: str, what: str) -> ServiceError:
    return ServiceError(ErrorCode.UNSUPPORTED_PARAMETER, details={"param": param}, what=what)


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str
    refusal: str | None = None


class Choice(BaseModel):
    index: int = 0
    message: AssistantMessage
    finish_reason: Literal["stop", "content_filter"]
    logprobs: None = None


class CompletionUsage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ChatbotFields(BaseModel):
    """The service's own facts about an answer (an extra field clients may ignore)."""

    conversation_id: str | None  # the stored conversation, when the request named one
    message_id: str | None
    route: str
    provider: str
    degraded: bool
    cached: bool


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: CompletionUsage
    system_fingerprint: str | None = None
    sources: list[Source]  # what each [n] in the text cites
    chatbot: ChatbotFields


class Model(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str
    provider: str  # the chat model behind it (LLM_PROVIDER)
    description: str


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[Model]


class OpenAIErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class OpenAIErrorEnvelope(BaseModel):
    """Every error on /v1/*: OpenAI's shape, so OpenAI clients raise their usual exceptions."""

    error: OpenAIErrorDetail
