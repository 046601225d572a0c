"""A turn's events as an OpenAI chat completion, whole or as `chat.completion.chunk`s.

The stream is OpenAI's: a first chunk with the assistant's role, one chunk per token,
a last chunk with `finish_reason` (`stop`; `content_filter` when the input guard refused
the question) and the service's `sources` and `chatbot` fields, a usage chunk (empty
`choices`) when `stream_options.include_usage` asks for it, then `data: [DONE]`. An error
after the stream started travels as `data: {"error": {...}}` in OpenAI's shape, which the
`openai` SDK raises. OpenAI has no way to take back streamed text: when a provider fails
mid-answer and the next one starts over, the stream says so in the text itself.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from app.chat.events import ChatResponse, ErrorEvent, FinalEvent, RestartEvent, TokenEvent
from app.chat.turn import TurnStream
from app.errors import ErrorCode
from app.gateway.openai_api.errors import openai_error
from app.gateway.openai_api.schemas import (
    AssistantMessage,
    ChatbotFields,
    ChatCompletion,
    Choice,
    CompletionUsage,
)

DONE = "[DONE]"


def _usage(response: ChatResponse) -> CompletionUsage:
    usage = response.usage
    return CompletionUsage(prompt_tokens=usage.input_tokens, completion_tokens=usage.output_tokens,
                           total_tokens=usage.total_tokens)


def _finish_reason(response: ChatResponse) -> str:
    return "content_filter" if response.route == "blocked" else "stop"


def restart_notice(event: RestartEvent) -> str:
    return f"\n\n[{event.provider} failed mid-answer ({event.reason}); the answer starts over]\n\n"


class CompletionWriter:
    """One request's completion: its id, creation time and model, for the whole answer or its chunks."""

    def __init__(self, model: str, stored_conversation: str | None):
        self.id = f"chatcmpl-{uuid.uuid4().hex}"
        self.created = int(time.time())
        self.model, self.stored_conversation = model, stored_conversation

    def _chatbot(self, response: ChatResponse) -> ChatbotFields:
        return ChatbotFields(conversation_id=self.stored_conversation, message_id=response.message_id,
                             route=response.route, provider=response.provider, degraded=response.degraded,
                             cached=response.cached)

    def whole(self, response: ChatResponse) -> ChatCompletion:
        return ChatCompletion(
            id=self.id, created=self.created, model=self.model, usage=_usage(response), sources=response.sources,
            choices=[Choice(message=AssistantMessage(content=response.answer),
                            finish_reason=_finish_reason(response))],  # type: ignore[arg-type]
            chatbot=self._chatbot(response))

    def _chunk(self, delta: dict[str, Any], finish_reason: str | None = None, **extra: Any) -> dict[str, Any]:
        return {"id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model,
                "system_fingerprint": None,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}],
                **extra}

    async def chunks(self, stream: TurnStream, include_usage: bool,
                     on_final: Callable[[FinalEvent], Awaitable[None]]) -> AsyncIterator[str]:
        """The `data:` payloads of the stream, `[DONE]` last; closing it closes the turn."""
        usage_field = {"usage": None} if include_usage else {}
        try:
            yield self._json(self._chunk({"role": "assistant", "content": ""}, **usage_field))
            async for event in stream:
                if isinstance(event, TokenEvent):
                    yield self._json(self._chunk({"content": event.text}, **usage_field))
                elif isinstance(event, RestartEvent):
                    yield self._json(self._chunk({"content": restart_notice(event)}, **usage_field))
                elif isinstance(event, FinalEvent):
                    await on_final(event)
                    yield self._json(self._chunk({}, _finish_reason(event), **usage_field,
                                                 sources=[s.model_dump() for s in event.sources],
                                                 chatbot=self._chatbot(event).model_dump()))
                    if include_usage:
                        yield self._json({**self._chunk({}), "choices": [], "usage": _usage(event).model_dump()})
                elif isinstance(event, ErrorEvent):
                    yield self._json(openai_error(event.payload(), ErrorCode(event.error.code).status))
            yield DONE
        finally:
            await stream.aclose()

    @staticmethod
    def _json(payload: dict[str, Any]) -> str:
        return json.dumps(payload, separators=(",", ":"))
