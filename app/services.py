"""The one place that turns settings into working parts and hands them to the graph.

`build_dependencies` makes everything the nodes use; `open_services` adds what has a
lifetime (the checkpointer's connection) and compiles the graph once, for the gateway
and the CLI alike.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from langgraph.graph.state import CompiledStateGraph

import prompts
from app.access.keys import KeyStore
from app.access.limits import KeyRateLimits
from app.conversations.checkpointers import open_checkpointer
from app.conversations.registry import ConversationRegistry
from app.ledgers.feedback import FeedbackStore
from app.ledgers.tool_calls import ToolCallLedger
from app.ledgers.usage import UsageLedger
from app.llm import ChatModels, build_chat_models
from app.llm.gate import ModelGate
from app.llm.response_cache import build_response_cache
from app.observability import metrics
from app.retrieval import (
    EmbeddedVectorStore,
    build_embedded_store,
    build_retriever,
    build_vector_store,
    uses_replica,
)
from app.retrieval.embeddings import MiniLMEmbeddings, build_embeddings
from app.retrieval.naming import DocumentNames
from app.safety.guardrails import InputGuard, block_categories
from app.settings import Settings
from graphs.builder import build_graph
from graphs.context import ChatDependencies
from graphs.routing import EmbeddingRouter
from tools.registry import ToolOutcome, ToolRegistry

log = logging.getLogger("chatbot.runtime")


def tool_call_recorder(ledger: ToolCallLedger):
    """Every tool call to the ledger and the metrics."""

    def record(outcome: ToolOutcome, conversation_id: str | None) -> None:
        metrics.TOOL_CALLS.labels(outcome.tool, outcome.outcome).inc()
        metrics.TOOL_DURATION.labels(outcome.tool).observe(outcome.duration_ms / 1000)
        ledger.record(outcome.tool, outcome.arguments, outcome.outcome, outcome.duration_ms, outcome.error,
                      conversation_id)

    return record


@dataclass
class Services:
    settings: Settings
    embeddings: MiniLMEmbeddings
    store: Any  # the primary vector store (EmbeddedVectorStore, OpenSearchStore)
    replica: EmbeddedVectorStore | None  # ENABLE_FALLBACK_SEARCH's embedded replica
    models: ChatModels
    dependencies: ChatDependencies
    graph: CompiledStateGraph
    checkpointer: object
    gate: ModelGate | None = None  # LLM_RATE_LIMIT / LLM_MAX_QUEUE
    usage: UsageLedger | None = None
    conversations: ConversationRegistry | None = None
    feedback: FeedbackStore | None = None
    tool_calls: ToolCallLedger | None = None
    keys: KeyStore | None = None
    rate_limits: KeyRateLimits | None = None

    def reload_tools(self) -> list[str]:
        """Load the enabled tool set again; the router and the tool-calling model follow."""
        tools = self.dependencies.tools
        names = tools.reload()
        self.dependencies.router.set_tool_examples({tool.name: tool.examples for tool in tools})
        return names


def build_dependencies(settings: Settings, *, parts: dict | None = None) -> ChatDependencies:
    """Everything the graph's nodes need, from the settings.

    `parts` receives the intermediate objects (embeddings, store, models) for callers
    that also need them, such as the gateway's health checks.
    """
    embeddings = build_embeddings(settings.embedding_model)
    store = build_vector_store(settings, embeddings)
    replica = build_embedded_store(settings, embeddings) if uses_replica(settings) else None
    ledger = UsageLedger.from_settings(settings)
    models = build_chat_models(settings, embeddings, ledger.arecord)
    tool_calls = ToolCallLedger(settings.ledger_url)
    tools = ToolRegistry.from_settings(settings, on_call=tool_call_recorder(tool_calls))
    router = EmbeddingRouter(
        embeddings,
        prompts.route_examples(),
        {tool.name: tool.examples for tool in tools},
    )
    if parts is not None:
        parts.update(embeddings=embeddings, store=store, replica=replica, models=models, ledger=ledger,
                     tool_calls=tool_calls)
    return ChatDependencies(
        retriever=build_retriever(settings, store, replica),
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
        named_documents=DocumentNames(store.document_titles),
        response_cache=build_response_cache(settings.enable_response_cache, settings.cache_ttl, settings.redis_url),
        cache_salt=json.dumps([models.chain_names, models.model_name, prompts.fingerprint()]),
        guard=InputGuard(embeddings, block_categories(settings.guardrail_block_categories)),
    )


def store_bootstrap_key(keys: KeyStore, settings: Settings) -> None:
    """CHATBOT_BOOTSTRAP_KEY (a container's secret): stored hashed on the first start."""
    if settings.chatbot_bootstrap_key is None:
        return
    scopes = [s.strip() for s in settings.chatbot_bootstrap_scopes.split(",") if s.strip()]
    if keys.ensure(settings.chatbot_bootstrap_key.get_secret_value(), settings.chatbot_bootstrap_owner, scopes):
        log.info("auth: the bootstrap key of %s (%s) is stored", settings.chatbot_bootstrap_owner, ",".join(scopes))


@asynccontextmanager
async def open_services(settings: Settings) -> AsyncIterator[Services]:
    parts: dict = {}
    dependencies = await asyncio.to_thread(build_dependencies, settings, parts=parts)
    if parts["models"].provider == "local":
        await asyncio.to_thread(parts["models"].primary.load)  # the first answer should not wait
    for store in (parts["store"], parts["replica"]):
        if hasattr(store, "warm_up"):  # load vectors, graph and lexical index now, not on a question
            await asyncio.to_thread(store.warm_up)
    # What is alive now lives as long as the process: keep it out of the collector's full
    # passes, which otherwise stall a search for tens of ms once the index holds 1M chunks.
    gc.freeze()
    registry = await asyncio.to_thread(ConversationRegistry, settings.checkpoint_url)
    keys = await asyncio.to_thread(KeyStore, settings.ledger_url, settings.auth_required)
    await asyncio.to_thread(store_bootstrap_key, keys, settings)
    feedback = await asyncio.to_thread(FeedbackStore, settings.ledger_url)
    async with open_checkpointer(settings.checkpoint_url) as checkpointer:
        yield Services(
            settings=settings,
            embeddings=parts["embeddings"],
            store=parts["store"],
            replica=parts["replica"],
            models=parts["models"],
            dependencies=dependencies,
            graph=build_graph(dependencies, checkpointer),
            checkpointer=checkpointer,
            gate=ModelGate(settings.llm_rate_limit, settings.llm_max_queue),
            usage=parts["ledger"],
            conversations=registry,
            feedback=feedback,
            tool_calls=parts["tool_calls"],
            keys=keys,
            rate_limits=KeyRateLimits(settings.rate_limit_per_minute, settings.token_limit_per_day,
                                      settings.redis_url),
        )
    keys.close()
    feedback.close()
    parts["ledger"].close()
    parts["tool_calls"].close()
    registry.close()
