"""Scripted chat models for unit tests of graph logic (never a stand-in for the real model)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import Field


class ScriptedChatModel(BaseChatModel):
    """Replies with the scripted texts in turn (repeating the last), recording every prompt.

    `tool_calls` scripts what a tool-calling model decides; `fail` makes every call raise.
    """

    replies: list[str] = Field(default_factory=lambda: ["scripted answer"])
    tool_calls: list[list[dict[str, Any]]] = Field(default_factory=list)
    fail: bool = False
    provider: str = "scripted"
    prompts: list[list[BaseMessage]] = Field(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def bind_tools(self, tools: Any, **kwargs: Any) -> ScriptedChatModel:
        return self

    def _next(self, messages: list[BaseMessage]) -> tuple[str, list[dict[str, Any]]]:
        if self.fail:
            raise RuntimeError("scripted failure")
        turn = len(self.prompts)
        self.prompts.append(messages)
        text = self.replies[min(turn, len(self.replies) - 1)]
        calls = self.tool_calls[min(turn, len(self.tool_calls) - 1)] if self.tool_calls else []
        return text, calls

    def _meta(self) -> dict[str, Any]:
        return {"provider": self.provider}

    def _generate(self, messages: list[BaseMessage], stop=None, run_manager=None, **kwargs: Any) -> ChatResult:
        text, calls = self._next(messages)
        message = AIMessage(
            content=text,
            tool_calls=[{"name": c["name"], "args": c["args"], "id": f"call-{i}"} for i, c in enumerate(calls)],
            response_metadata=self._meta(),
            usage_metadata={"input_tokens": 10, "output_tokens": len(text.split()), "total_tokens": 10 + len(text.split())},
        )
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _stream(self, messages: list[BaseMessage], stop=None, run_manager=None, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        text, _ = self._next(messages)
        for piece in re.findall(r"\S+\s*", text):
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=piece))
            if run_manager:
                run_manager.on_llm_new_token(piece, chunk=chunk)
            yield chunk
        yield ChatGenerationChunk(message=AIMessageChunk(content="", response_metadata=self._meta(), chunk_position="last"))
