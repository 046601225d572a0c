"""ENABLE_FALLBACK_SEARCH: when the primary vector store fails, answer from the replica.

The runbook's P0 "vector store unreachable": the primary (OpenSearch, Pinecone) gets a
short timeout; on an error or a timeout the embedded replica, kept in sync by `chatbot
index`, answers instead, its documents marked `degraded` so the response says so, and
the failure is remembered for `/health/ready`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, Field

log = logging.getLogger("chatbot.retrieval")


@dataclass
class BackendHealth:
    """The primary's last failure, as the retriever saw it serving traffic."""

    last_error: str | None = None
    last_error_at: float = 0.0
    fallbacks: int = 0

    def failing(self, within_seconds: float = 60.0) -> bool:
        return self.last_error is not None and time.monotonic() - self.last_error_at < within_seconds


class FallbackRetriever(BaseRetriever):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    primary: BaseRetriever
    replica: BaseRetriever
    timeout_seconds: float = 2.0
    health: BackendHealth = Field(default_factory=BackendHealth)

    def _degraded(self, documents: list[Document]) -> list[Document]:
        for document in documents:
            document.metadata.update(degraded=True, backend="embedded-replica")
        return documents

    def _record(self, exc: BaseException) -> None:
        # The kind only: /health/ready is open, and messages can name internal hosts.
        self.health.last_error = type(exc).__name__
        self.health.last_error_at = time.monotonic()
        self.health.fallbacks += 1
        log.error("primary vector store failed (%s); answering from the embedded replica", type(exc).__name__)

    async def _aget_relevant_documents(self, query: str, *, run_manager: Any = None, **kwargs: Any) -> list[Document]:
        try:
            return await asyncio.wait_for(self.primary.ainvoke(query, **kwargs), self.timeout_seconds)
        except Exception as exc:  # any failure of the primary: unreachable, timeout, 5xx, bad response
            self._record(exc)
        return self._degraded(await self.replica.ainvoke(query, **kwargs))

    def _get_relevant_documents(self, query: str, *, run_manager: Any = None, **kwargs: Any) -> list[Document]:
        try:
            return self.primary.invoke(query, **kwargs)
        except Exception as exc:
            self._record(exc)
        return self._degraded(self.replica.invoke(query, **kwargs))
