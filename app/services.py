"""The one place that turns settings into working parts: built once, closed once.

`build_components` makes everything a graph run needs (embeddings, vector store and its
replica, retriever, chat models, usage and tool-call ledgers, tools, input guard, response
cache, search threads): the service, the CLI, the evaluations and `langgraph dev`
(graphs/chat.py) all start here. `open_services` adds what serves requests and has a
lifetime (the checkpointer, the conversation registry, API keys, feedback, per-key
limits, the model gate) and closes everything when it ends. The graph is compiled on
these, and run turn by turn, by app/chatbot.py and app/chat.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, fields

from langchain_core.retrievers import BaseRetriever
from langgraph.checkpoint.base import BaseCheckpointSaver

from app.access.keys import KeyStore
from app.access.limits import KeyRateLimits
from app.conversations.checkpointers import open_checkpointer
from app.conversations.locks import LocalTurnLocks, RedisTurnLocks, TurnLocks
from app.conversations.registry import ConversationRegistry
from app.ledgers.database import Database
from app.ledgers.feedback import FeedbackStore
from app.ledgers.tool_calls import ToolCallLedger
from app.ledgers.usage import UsageLedger
from app.llm import ChatModels, build_chat_models
from app.llm.gate import LocalModelGate, ModelGate
from app.llm.response_cache import ResponseCache, build_response_cache
from app.llm.shared_gate import RedisModelGate
from app.observability import metrics
from app.observability.tracing import configure_tracing
from app.retrieval import EmbeddedVectorStore, build_embedded_store, build_retriever, build_vector_store, uses_replica
from app.retrieval.backend import VectorStoreBackend
from app.retrieval.embeddings import MiniLMEmbeddings, build_embeddings
from app.safety.guardrails import InputGuard, block_categories
from app.settings import Settings
from tools.registry import ToolOutcome, ToolRegistry

log = logging.getLogger("chatbot.services")
SEARCH_THREADS = 4  # BM25 beside the vector search: tantivy and faiss release the GIL


def tool_call_recorder(ledger: ToolCallLedger):
    """Every tool call to the ledger and the metrics."""

    def record(outcome: ToolOutcome, conversation_id: str | None) -> None:
        metrics.TOOL_CALLS.labels(outcome.tool, outcome.outcome).inc()
        metrics.TOOL_DURATION.labels(outcome.tool).observe(outcome.duration_ms / 1000)
        ledger.record(outcome.tool, outcome.arguments, outcome.outcome, outcome.duration_ms, outcome.error,
                      conversation_id)

    return record


@dataclass(frozen=True)
class Components:
    """What a graph run needs; owns each part and closes it."""

    settings: Settings
    embeddings: MiniLMEmbeddings
    store: VectorStoreBackend  # VECTOR_STORE: embedded, OpenSearch or Pinecone
    replica: EmbeddedVectorStore | None  # ENABLE_FALLBACK_SEARCH's embedded replica, if on
    retriever: BaseRetriever
    models: ChatModels
    ledger_db: Database
    usage: UsageLedger
    tool_calls: ToolCallLedger
    tools: ToolRegistry
    guard: InputGuard
    response_cache: ResponseCache | None  # ENABLE_RESPONSE_CACHE, if on
    search_pool: ThreadPoolExecutor
    tracing: bool  # LangSmith tracing (LANGSMITH_API_KEY)

    def close(self) -> None:
        self.tools.close()
        self.search_pool.shutdown(wait=False, cancel_futures=True)
        for store in (self.store, self.replica):
            if store is not None:
                store.close()
        self.ledger_db.close()


def build_components(settings: Settings) -> Components:
    """Everything the graph's nodes need, from the settings (blocking: it loads models)."""
    embeddings = build_embeddings(settings.embedding_model)
    store = build_vector_store(settings, embeddings)
    replica = build_embedded_store(settings, embeddings) if uses_replica(settings) else None
    search_pool = ThreadPoolExecutor(max_workers=SEARCH_THREADS, thread_name_prefix="search")
    ledger_db = Database(settings.ledger_url)
    usage = UsageLedger.from_settings(settings, ledger_db)
    tool_calls = ToolCallLedger(ledger_db)
    return Components(
        settings=settings,
        embeddings=embeddings,
        store=store,
        replica=replica,
        retriever=build_retriever(settings, store, replica, search_pool),
        models=build_chat_models(settings, embeddings, usage.arecord),
        ledger_db=ledger_db,
        usage=usage,
        tool_calls=tool_calls,
        tools=ToolRegistry.from_settings(settings, on_call=tool_call_recorder(tool_calls)),
        guard=InputGuard(embeddings, block_categories(settings.guardrail_block_categories)),
        response_cache=build_response_cache(settings.enable_response_cache, settings.cache_ttl, settings.redis_url),
        search_pool=search_pool,
        tracing=configure_tracing(settings),
    )


@dataclass(frozen=True)
class Services(Components):
    """The components, and what serves requests: checkpoints, conversations, keys, limits, the model gate."""

    checkpointer: BaseCheckpointSaver
    conversations_db: Database  # the conversation registry's: beside the checkpoints
    conversations: ConversationRegistry
    feedback: FeedbackStore
    keys: KeyStore
    rate_limits: KeyRateLimits  # per API key, shared through Redis when REDIS_URL is set
    gate: ModelGate  # LLM_RATE_LIMIT / LLM_MAX_QUEUE, for the deployment when REDIS_URL is set
    locks: TurnLocks  # one turn at a time per conversation, across replicas when REDIS_URL is set


@asynccontextmanager
async def open_coordination(settings: Settings) -> AsyncIterator[tuple[ModelGate, TurnLocks]]:
    """The model gate and the turn locks: this process's, or (REDIS_URL) every replica's."""
    if not settings.redis_url:
        yield LocalModelGate(settings.llm_rate_limit, settings.llm_max_queue), LocalTurnLocks()
        return
    import redis.asyncio as redis

    client = redis.from_url(settings.redis_url, socket_timeout=1.0, socket_connect_timeout=1.0)
    try:
        gate: ModelGate = (RedisModelGate(client, settings.llm_rate_limit, settings.llm_max_queue)
                           if settings.llm_rate_limit else LocalModelGate(None, settings.llm_max_queue))
        yield gate, RedisTurnLocks(client)
    finally:
        await client.aclose()


def store_bootstrap_key(keys: KeyStore, settings: Settings) -> None:
    """CHATBOT_BOOTSTRAP_KEY (a container's secret): stored hashed on the first start."""
    if settings.chatbot_bootstrap_key is None:
        return
    scopes = [s.strip() for s in settings.chatbot_bootstrap_scopes.split(",") if s.strip()]
    if keys.ensure(settings.chatbot_bootstrap_key.get_secret_value(), settings.chatbot_bootstrap_owner, scopes):
        log.info("auth: the bootstrap key of %s (%s) is stored", settings.chatbot_bootstrap_owner, ",".join(scopes))


def _warm_up(components: Components) -> None:
    """Load what the first question would wait for: the local model, the vectors, the indexes."""
    if components.models.provider == "local":
        components.models.primary.load()
    for store in (components.store, components.replica):
        if isinstance(store, EmbeddedVectorStore):
            store.warm_up()


@asynccontextmanager
async def open_services(settings: Settings) -> AsyncIterator[Services]:
    components = await asyncio.to_thread(build_components, settings)
    conversations_db = components.ledger_db
    try:
        await asyncio.to_thread(_warm_up, components)
        if settings.checkpoint_url != settings.ledger_url:  # SQLite: the registry is beside the checkpoints
            conversations_db = await asyncio.to_thread(Database, settings.checkpoint_url)
        conversations = await asyncio.to_thread(ConversationRegistry, conversations_db)
        keys = await asyncio.to_thread(KeyStore, components.ledger_db, settings.auth_required)
        await asyncio.to_thread(store_bootstrap_key, keys, settings)
        feedback = await asyncio.to_thread(FeedbackStore, components.ledger_db)
        # What is alive now lives as long as the process: keep it out of the collector's full
        # passes, which otherwise stall a search for tens of ms once the index holds 1M chunks.
        gc.freeze()
        async with open_checkpointer(settings.checkpoint_url) as checkpointer, \
                open_coordination(settings) as (gate, locks):
            yield Services(
                **{f.name: getattr(components, f.name) for f in fields(Components)},
                checkpointer=checkpointer, conversations_db=conversations_db, conversations=conversations,
                feedback=feedback, keys=keys,
                rate_limits=KeyRateLimits(settings.rate_limit_per_minute, settings.token_limit_per_day,
                                          settings.redis_url),
                gate=gate,
                locks=locks,
            )
    finally:
        if conversations_db is not components.ledger_db:
            conversations_db.close()
        if components.response_cache is not None:
            await components.response_cache.aclose()
        components.close()
