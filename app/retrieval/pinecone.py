"""Pinecone as the vector store: dense search with metadata filters, in a namespace.

Vector ids are `<document id>#<chunk id>`, so a document's chunks are listed by prefix
(Pinecone's `list`) and replaced exactly: new chunks upserted in batches, stale ones
deleted by id. The chunk's text and metadata travel in the vector's metadata. Pinecone
has no BM25 here: its search is the vector ranking alone.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import numpy as np
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from app.retrieval.filters import SearchFilter

UPSERT_BATCH = 100  # Pinecone's recommended upsert batch for 384-dim vectors with metadata
DELETE_BATCH = 1000  # the API's limit of ids per delete request
METADATA_FIELDS = ("document_id", "title", "section", "source", "tags", "modified", "chunk_index")


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def pinecone_filter(where: SearchFilter | None) -> dict[str, Any] | None:
    """A `SearchFilter` in Pinecone's filter language (dates as epoch seconds)."""
    if where is None or where.is_empty():
        return None
    if where.source_prefix:
        raise ValueError("Pinecone filters cannot match a source prefix; filter by document_ids instead")
    clauses: list[dict[str, Any]] = []
    if where.document_ids:
        clauses.append({"document_id": {"$in": list(where.document_ids)}})
    if where.tags:
        clauses.append({"tags": {"$in": list(where.tags)}})
    if where.modified_after:
        clauses.append({"modified_ts": {"$gte": _epoch(where.modified_after)}})
    if where.modified_before:
        clauses.append({"modified_ts": {"$lt": _epoch(where.modified_before)}})
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


def vector_record(document_id: str, chunk_id: str, chunk: Document, vector: Sequence[float]) -> dict[str, Any]:
    meta = {k: chunk.metadata[k] for k in METADATA_FIELDS if chunk.metadata.get(k) is not None}
    meta["text"] = chunk.page_content
    if meta.get("modified"):
        meta["modified_ts"] = _epoch(meta["modified"])
    if not meta.get("tags"):
        meta.pop("tags", None)  # Pinecone rejects empty lists
    return {"id": f"{document_id}#{chunk_id}", "values": list(map(float, vector)), "metadata": meta}


class PineconeStore:
    """Chunk store on a Pinecone index (host) and namespace."""

    def __init__(self, index: Any, embedding: Embeddings, *, model_name: str, namespace: str = ""):
        self.index = index
        self._embedding = embedding
        self.model_name = model_name
        self.namespace = namespace
        self.path = f"pinecone:{namespace or 'default'}"

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        embed_array = getattr(self._embedding, "embed_array", None)
        vectors = embed_array(texts) if embed_array else np.array(self._embedding.embed_documents(texts))
        return np.asarray(vectors, dtype=np.float32)

    def _ids(self, prefix: str) -> list[str]:
        return [v.id for page in self.index.list(prefix=prefix, namespace=self.namespace) for v in page.vectors]

    def chunk_ids(self, document_id: str) -> list[str]:
        prefix = f"{document_id}#"
        return [i[len(prefix):] for i in self._ids(prefix)]

    def document_ids(self) -> list[str]:
        return sorted({i.rsplit("#", 1)[0] for i in self._ids("")})

    def document_titles(self) -> dict[str, str]:
        first: dict[str, str] = {}
        for vector_id in self._ids(""):
            first.setdefault(vector_id.rsplit("#", 1)[0], vector_id)
        titles = {}
        ids = list(first.values())
        for start in range(0, len(ids), DELETE_BATCH):
            fetched = self.index.fetch(ids=ids[start : start + DELETE_BATCH], namespace=self.namespace)
            for vector in fetched.vectors.values():
                titles[vector.metadata["document_id"]] = vector.metadata.get("title") or vector.metadata["document_id"]
        return titles

    def passage(self, chunk_id: str, document_id: str | None = None) -> Document | None:
        """Vectors are stored as `document_id#chunk_id`: without the document, there is no way to it."""
        if not document_id:
            return None
        fetched = self.index.fetch(ids=[f"{document_id}#{chunk_id}"], namespace=self.namespace)
        vector = next(iter(fetched.vectors.values()), None)
        if vector is None:
            return None
        meta = dict(vector.metadata)
        text = meta.pop("text", "")
        meta.pop("modified_ts", None)
        return Document(id=chunk_id, page_content=text, metadata=meta)

    def count(self) -> int:
        stats = self.index.describe_index_stats()
        namespace = stats.namespaces.get(self.namespace)
        return namespace.vector_count if namespace else 0

    def stats(self) -> dict[str, Any]:
        return {"path": self.path, "documents": len(self.document_ids()), "chunks": self.count(),
                "embedding_model": self.model_name}

    def close(self) -> None:
        """Nothing to release: the client's connections close with the process."""

    def ping(self) -> dict[str, Any]:
        return {"dimension": self.index.describe_index_stats().dimension}

    def replace_document(
        self, document_id: str, chunks: Sequence[Document], ids: Sequence[str], vectors: np.ndarray | None = None
    ) -> int:
        existing = set(self.chunk_ids(document_id))
        new = [n for n, i in enumerate(ids) if i not in existing]
        stale = [f"{document_id}#{i}" for i in existing - set(ids)]
        if new:
            texts = [chunks[n].page_content for n in new]
            rows = self.embed_texts(texts) if vectors is None else np.asarray(vectors)[new]
            records = [vector_record(document_id, ids[n], chunks[n], v) for n, v in zip(new, rows)]
            for start in range(0, len(records), UPSERT_BATCH):
                self.index.upsert(vectors=records[start : start + UPSERT_BATCH], namespace=self.namespace)
        self._delete(stale)
        return len(new)

    def _delete(self, vector_ids: list[str]) -> None:
        for start in range(0, len(vector_ids), DELETE_BATCH):
            self.index.delete(ids=vector_ids[start : start + DELETE_BATCH], namespace=self.namespace)

    def delete_documents(self, document_ids: Iterable[str]) -> int:
        ids = [i for d in document_ids for i in self._ids(f"{d}#")]
        self._delete(ids)
        return len(ids)

    def search(self, query: str, k: int, where: SearchFilter | None = None) -> list[Document]:
        started = time.perf_counter()
        vector = list(map(float, self._embedding.embed_query(query)))
        result = self.index.query(vector=vector, top_k=k, filter=pinecone_filter(where),
                                  include_metadata=True, namespace=self.namespace)
        elapsed = round((time.perf_counter() - started) * 1000, 2)
        docs = []
        for match in result.matches:
            meta = dict(match.metadata or {})
            text = meta.pop("text", "")
            meta.pop("modified_ts", None)
            meta.update(score=round(float(match.score), 4), search_ms=elapsed)
            docs.append(Document(id=match.id.rsplit("#", 1)[-1], page_content=text, metadata=meta))
        return docs


class PineconeRetriever(BaseRetriever):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    store: PineconeStore
    k: int = 4

    def _get_relevant_documents(
        self, query: str, *, run_manager: Any = None, filter: SearchFilter | dict | None = None
    ) -> list[Document]:
        return self.store.search(query, self.k, SearchFilter.from_value(filter))

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: Any = None, filter: SearchFilter | dict | None = None
    ) -> list[Document]:
        return await asyncio.to_thread(self._get_relevant_documents, query, filter=filter)


def build_index(api_key: str, host: str, timeout: float) -> Any:
    """A Pinecone data-plane client for the index at `host` (from the index's console page)."""
    from pinecone import Index

    return Index(host=host, api_key=api_key, timeout=timeout)
