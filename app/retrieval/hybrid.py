"""Hybrid retrieval: vector and BM25 rankings fused by reciprocal rank fusion (RRF).

RRF scores a chunk by the sum of weight / (k + rank) over the rankings it appears in, so
neither the cosine nor the BM25 scale has to be calibrated against the other; the
weights (VECTOR_WEIGHT, BM25_WEIGHT) say how much each ranking counts.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from concurrent.futures import Executor

import numpy as np
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from app.retrieval.filters import SearchFilter
from app.retrieval.store import EmbeddedVectorStore


def reciprocal_rank_fusion(rankings: Sequence[Sequence[str]], k: int = 60,
                           weights: Sequence[float] | None = None) -> list[tuple[str, float]]:
    """Fuse ranked id lists; returns (id, fused score), best first, ties by first seen."""
    fused: dict[str, float] = {}
    for ranking, weight in zip(rankings, weights or [1.0] * len(rankings), strict=True):
        for rank, item in enumerate(ranking, start=1):
            fused[item] = fused.get(item, 0.0) + weight / (k + rank)
    return sorted(fused.items(), key=lambda kv: kv[1], reverse=True)


class HybridRetriever(BaseRetriever):
    """Top-k chunks by RRF of vector and BM25 search over an `EmbeddedVectorStore`.

    Each returned document carries `score` (its cosine similarity to the question,
    the relevance shown to users), `rrf_score`, and `search_ms` in its metadata. With a
    `pool` (the services' search threads), BM25 runs on another core while the vectors are
    searched: tantivy and faiss both release the GIL.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    store: EmbeddedVectorStore
    k: int = 4
    fetch_k: int = 20  # candidates from each search
    rrf_k: int = 60
    vector_weight: float = 0.5
    bm25_weight: float = 0.5
    pool: Executor | None = None

    def _get_relevant_documents(
        self,
        query: str,
        *,
        run_manager: CallbackManagerForRetrieverRun | None = None,
        filter: SearchFilter | dict | None = None,
    ) -> list[Document]:
        """`filter` (a `SearchFilter` or its fields as a dict) limits the search to matching chunks."""
        return self.search(query, self.store.embed_query(query), filter)

    def search(
        self, query: str, query_vector: np.ndarray, filter: SearchFilter | dict | None = None
    ) -> list[Document]:
        """The fused top k for a question whose embedding is already known."""
        started = time.perf_counter()
        where = SearchFilter.from_value(filter)
        if self.pool is not None:
            lexical = self.pool.submit(self.store.lexical_search, query, self.fetch_k, where)
            vector_hits = self.store.vector_search(query_vector, self.fetch_k, where)
            lexical_hits = lexical.result()
        else:
            vector_hits = self.store.vector_search(query_vector, self.fetch_k, where)
            lexical_hits = self.store.lexical_search(query, self.fetch_k, where)
        fused = reciprocal_rank_fusion(
            [[i for i, _ in vector_hits], [i for i, _ in lexical_hits]], k=self.rrf_k,
            weights=(self.vector_weight, self.bm25_weight),
        )[: self.k]
        cosine = self.store.cosine_scores(query_vector, [i for i, _ in fused])
        elapsed_ms = (time.perf_counter() - started) * 1000
        docs = {d.id: d for d in self.store.get_by_ids([i for i, _ in fused])}
        results = []
        for chunk_id, rrf_score in fused:
            doc = docs.get(chunk_id)
            if doc is None:  # deleted between the search and the read
                continue
            doc.metadata.update(
                score=round(cosine.get(chunk_id, 0.0), 4),
                rrf_score=round(rrf_score, 6),
                search_ms=round(elapsed_ms, 2),
            )
            results.append(doc)
        return results

    async def _aget_relevant_documents(
        self, query: str, *, run_manager=None, filter: SearchFilter | dict | None = None
    ) -> list[Document]:
        # Embedding the query is CPU work: keep it off the event loop.
        return await asyncio.to_thread(self._get_relevant_documents, query, filter=filter)
