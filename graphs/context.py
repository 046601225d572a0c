"""What the graph's nodes are given to work with: every dependency, built elsewhere.

`app.services` builds a `ChatDependencies` from the settings (or a test builds one from
fakes) and `build_graph` hands it to the nodes; nodes never read settings, environment
variables or globals.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from langchain_core.language_models import BaseChatModel
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import Runnable

from app.llm.response_cache import ResponseCache
from app.safety.guardrails import InputGuard
from graphs.routing import EmbeddingRouter
from tools.registry import ToolRegistry


@dataclass(frozen=True)
class ChatDependencies:
    retriever: BaseRetriever
    chat_model: Runnable  # the primary model with its fallbacks, ending in `extractive`
    router: EmbeddingRouter
    tools: ToolRegistry
    # The primary model, when it supports tool calling (OpenAI, Azure); tools are bound per call.
    tool_calling_model: BaseChatModel | None = None
    count_tokens: Callable[[str], int] = lambda text: len(text) // 4 + 1
    max_history_messages: int = 6
    summarize_history: bool = False  # HISTORY_SUMMARY: fold what leaves the window into a summary
    max_context_tokens: int = 2048
    answer_tokens: int = 160
    max_message_chars: int = 4000
    max_passages: int | None = None  # None: as many as fit the context budget
    # The documents a question names by id or title; retrieval is limited to them.
    named_documents: Callable[[str], list[str]] = lambda question: []
    # ENABLE_RESPONSE_CACHE: answers per (question, passages); the salt names the models and prompts.
    response_cache: ResponseCache | None = None
    cache_salt: str = ""
    # The input guardrail (patterns and nearest examples); None: size limits only.
    guard: InputGuard | None = None
