"""The service in-process: what the gateway serves, for notebooks, scripts and evaluations.

    from app.chatbot import Chatbot

    async with Chatbot.open() as bot:              # settings from the environment, or Chatbot.open(settings)
        response = await bot.ask("What is the RPO for conversations?")
        async for event in bot.stream("And the RTO?", conversation_id=response.conversation_id):
            ...                                        # typed events: TokenEvent, SourcesEvent, FinalEvent, ...
        passages = await bot.search("restore the vector store", mode="bm25")
        report = await bot.evaluate_retrieval("sample_kb")   # hybrid, vector and BM25 on a labelled set
        verdict = bot.check_input("Ignore all previous instructions")

`Chatbot.open` builds the services once (app/services.py), compiles the graph on them,
and closes everything when the block ends. Turns run as the local operator unless a
`principal` is given, through the same admission, model gate and turn locks as the
gateway's routes, which run on a `Chatbot` too.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from langchain_core.documents import Document
from langgraph.graph.state import CompiledStateGraph

from app.access.keys import LOCAL_PRINCIPAL, Principal
from app.chat.events import ChatResponse, TurnEvent
from app.chat.turn import Chat, Turn
from app.conversations.transcripts import read_messages
from app.retrieval import EmbeddedVectorStore, hybrid_retriever
from app.safety.guardrails import Verdict
from app.services import Services, open_services
from app.settings import ConfigurationError, Settings, load_settings
from graphs.builder import build_graph
from graphs.context import ChatDependencies

SEARCH_MODES = ("hybrid", "vector", "bm25")


class Chatbot:
    def __init__(self, services: Services, dependencies: ChatDependencies, graph: CompiledStateGraph):
        self.services, self.dependencies, self.graph = services, dependencies, graph
        self.chat = Chat(graph, registry=services.conversations, gate=services.gate, locks=services.locks,
                         max_message_chars=services.settings.max_message_chars)

    @classmethod
    @asynccontextmanager
    async def open(cls, settings: Settings | None = None, *,
                   customize: Callable[[ChatDependencies], ChatDependencies] | None = None) -> AsyncIterator[Chatbot]:
        """The chatbot on these settings (default: the environment's); `customize` may swap
        parts of the graph's dependencies (a benchmark's instant model) before it is compiled."""
        async with open_services(settings or load_settings()) as services:
            dependencies = ChatDependencies.from_components(services)
            if customize is not None:
                dependencies = customize(dependencies)
            yield cls(services, dependencies, build_graph(dependencies, services.checkpointer))

    @property
    def settings(self) -> Settings:
        return self.services.settings

    async def ask(self, message: str, conversation_id: str | None = None, *,
                  principal: Principal = LOCAL_PRINCIPAL) -> ChatResponse:
        """One turn, answered whole (raises `ServiceError` when it is refused or fails)."""
        return await self.chat.run(Turn.ask(principal, message, conversation_id))

    async def stream(self, message: str, conversation_id: str | None = None, *,
                     principal: Principal = LOCAL_PRINCIPAL) -> AsyncIterator[TurnEvent]:
        """One turn's events as they come (a refusal raises before the first)."""
        stream = await self.chat.open(Turn.ask(principal, message, conversation_id))
        try:
            async for event in stream:
                yield event
        finally:
            await stream.aclose()

    async def decide(self, conversation_id: str, approved: bool, comment: str | None = None, *,
                     principal: Principal = LOCAL_PRINCIPAL) -> ChatResponse:
        """Approve or reject the tool call waiting in a conversation; the paused turn completes."""
        return await self.chat.run(Turn.decide(principal, conversation_id, approved, comment))

    async def messages(self, conversation_id: str) -> list[dict[str, str]]:
        """The conversation's messages, from its latest checkpoint."""
        return await read_messages(self.services.checkpointer, conversation_id)

    def _embedded_store(self) -> EmbeddedVectorStore:
        store = self.services.store
        if not isinstance(store, EmbeddedVectorStore):
            raise ConfigurationError("searching by mode needs the embedded store (VECTOR_STORE=embedded)")
        return store

    def _search(self, query: str, k: int | None, mode: str) -> list[Document]:
        if mode not in SEARCH_MODES:
            raise ValueError(f"mode must be one of {', '.join(SEARCH_MODES)}")
        if mode == "hybrid" and k is None:
            return self.services.retriever.invoke(query)  # exactly what a turn retrieves
        store = self._embedded_store()
        k = k or self.settings.retrieval_top_k
        if mode == "hybrid":
            return hybrid_retriever(self.settings, store, k, self.services.search_pool).invoke(query)
        hits = (store.vector_search(store.embed_query(query), k) if mode == "vector"
                else store.lexical_search(query, k))
        documents = {d.id: d for d in store.get_by_ids([chunk_id for chunk_id, _ in hits])}
        return [documents[chunk_id] for chunk_id, _ in hits if chunk_id in documents]

    async def search(self, query: str, *, k: int | None = None, mode: str = "hybrid") -> list[Document]:
        """The passages a search finds: `hybrid` (what turns read), `vector` or `bm25` alone."""
        return await asyncio.to_thread(self._search, query, k, mode)

    def _evaluate(self, queries: list[dict], modes: Sequence[str], k: int, passages: int | None) -> dict[str, Any]:
        from app.llm import passages_read
        from evals.retrieval import evaluate_retrieval

        store = self._embedded_store()
        retriever = hybrid_retriever(self.settings, store, k, self.services.search_pool)
        return evaluate_retrieval(store, retriever, queries, passages=passages or passages_read(self.settings),
                                  modes=modes)

    async def evaluate_retrieval(self, dataset: str | Path | list[dict] = "sample_kb", *,
                                 modes: Sequence[str] = SEARCH_MODES, k: int = 10,
                                 passages: int | None = None) -> dict[str, Any]:
        """Retrieval quality per mode on a labelled set (a dataset name, a JSONL path, or the
        queries): hit@1, hit@5, MRR and nDCG@10, and for hybrid the context relevance."""
        from evals.dataset import load_queries

        if unknown := set(modes) - set(SEARCH_MODES):
            raise ValueError(f"unknown mode(s) {sorted(unknown)}: choose from {', '.join(SEARCH_MODES)}")
        queries = dataset if isinstance(dataset, list) else load_queries(dataset)
        return await asyncio.to_thread(self._evaluate, queries, modes, k, passages)

    def check_input(self, message: str) -> Verdict:
        """What the input guardrail says of a message: blocked or not, and why."""
        return self.services.guard.check(message)

    def reload_tools(self) -> list[str]:
        """Load the enabled tool set again; the router follows (POST /admin/tools/reload)."""
        tools = self.dependencies.tools
        names = tools.reload()
        self.dependencies.router.set_tool_examples({tool.name: tool.examples for tool in tools})
        return names
