"""What the graph's nodes work with: the dependencies bound at build time, and the run's context.

`ChatDependencies` holds every shared part (retriever, models, router, tools, guard,
cache, budget numbers), built once from the service's components (`from_components`) or,
in tests, from fakes; `build_graph` binds it into every node. `RunContext` holds what
differs per run, who runs it and in which conversation, and reaches the nodes through
LangGraph's runtime (`context=` on each run). Nodes never read settings, environment
variables or globals.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from langchain_core.language_models import BaseChatModel
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import Runnable
from langgraph.runtime import Runtime

import prompts
from app.llm.response_cache import ResponseCache
from app.llm.tokens import estimate_tokens
from app.retrieval.naming import DocumentNames
from app.safety.guardrails import InputGuard
from graphs.routing import EmbeddingRouter
from tools.registry import ToolRegistry

if TYPE_CHECKING:
    from app.services import Components


@dataclass(frozen=True)
class ChatDependencies:
    retriever: BaseRetriever
    chat_model: Runnable  # the primary model with its fallbacks, ending in `extractive`
    router: EmbeddingRouter
    tools: ToolRegistry
    # The primary model, when it supports tool calling (OpenAI, Azure); tools are bound per call.
    tool_calling_model: BaseChatModel | None = None
    count_tokens: Callable[[str], int] = estimate_tokens
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

    @classmethod
    def from_components(cls, components: Components) -> ChatDependencies:
        """The graph's dependencies from the service's components (app/services.py)."""
        settings, models, tools = components.settings, components.models, components.tools
        router = EmbeddingRouter(components.embeddings, prompts.route_examples(),
                                 {tool.name: tool.examples for tool in tools})
        return cls(
            retriever=components.retriever,
            chat_model=models.chain,
            router=router,
            tools=tools,
            tool_calling_model=models.primary if models.supports_tools else None,
            count_tokens=models.count_tokens,
            max_history_messages=settings.max_history_messages,
            summarize_history=settings.history_summary,
            max_context_tokens=settings.max_context_length,
            answer_tokens=settings.llm_max_tokens,
            max_message_chars=settings.max_message_chars,
            max_passages=models.max_passages,
            named_documents=DocumentNames(components.store.document_titles),
            response_cache=components.response_cache,
            cache_salt=json.dumps([models.chain_names, models.model_name, prompts.fingerprint()]),
            guard=components.guard,
        )


@dataclass(frozen=True)
class RunContext:
    """Per run, set by the service: who sends the turn, with which API-key scopes, in which conversation."""

    owner: str | None = None
    scopes: frozenset[str] | None = None  # None: unknown, so only chat tools without side effects run
    conversation_id: str | None = None


@dataclass(frozen=True)
class Caller:
    owner: str | None
    scopes: frozenset[str] | None
    conversation_id: str | None


def run_caller(runtime: Runtime[RunContext]) -> Caller:
    """Who runs the graph, and in which conversation.

    Two servers run this graph. Under LangGraph Server (`langgraph dev`), the user its auth
    handler returned (app/access/langgraph_auth.py) is in `runtime.server_info`, and it is
    the only truth: a client's own `context` is ignored (the server sets `server_info` from
    what the client cannot write). The service runs the graph in-process and sets
    `RunContext` itself, from the request's API key. What is not known is None, and the
    tools then fail closed.
    """
    thread = runtime.execution_info.thread_id if runtime.execution_info is not None else None
    if runtime.server_info is not None:
        user = runtime.server_info.user
        identity = _user_field(user, "identity")
        if not identity or not _user_field(user, "is_authenticated", True):
            return Caller(None, None, thread)
        return Caller(str(identity), frozenset(str(p) for p in _user_field(user, "permissions", ()) or ()), thread)
    context = runtime.context if isinstance(runtime.context, RunContext) else RunContext()
    scopes = frozenset(context.scopes) if context.scopes is not None else None
    return Caller(context.owner, scopes, context.conversation_id or thread)


def _user_field(user: object, name: str, default: object = None) -> object:
    """A field of LangGraph Server's user, which may be an object or a dict."""
    if user is None:
        return default
    if isinstance(user, Mapping):
        return user.get(name, default)
    return getattr(user, name, default)
