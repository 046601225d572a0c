"""OpenSearch as the vector store: `knn_vector` (HNSW) and BM25 in one index, hybrid search.

The service reads an alias (VECTOR_STORE_INDEX); the index behind it is versioned
(`knowledge-base-v1`, `-v2`), so a rebuild fills a new index and swaps the alias in one
`_aliases` call. Hybrid search is one `hybrid` query (BM25 + k-NN) ranked by a search
pipeline with reciprocal rank fusion, the same fusion as the embedded store.

The request bodies are built by the module's functions, so tests check them against
the documented API without a server.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from app.retrieval.filters import SearchFilter

log = logging.getLogger("chatbot.retrieval")
PIPELINE = "chatbot-hybrid"
MAX_IDS = 10_000  # chunks of one document, documents in an index: far above what we store


def index_body(dimensions: int, model_name: str) -> dict[str, Any]:
    """Settings and mappings of a chunk index (HNSW over inner product of unit vectors)."""
    return {
        "settings": {"index": {"knn": True, "number_of_shards": 1}},
        "mappings": {
            "_meta": {"embedding_model": model_name, "dimensions": dimensions},
            "properties": {
                "text": {"type": "text"},
                "title": {"type": "text", "fields": {"raw": {"type": "keyword"}}},
                "document_id": {"type": "keyword"},
                "section": {"type": "keyword"},
                "source": {"type": "keyword"},
                "tags": {"type": "keyword"},
                "modified": {"type": "date"},
                "metadata": {"type": "object", "enabled": False},
                "vector": {
                    "type": "knn_vector",
                    "dimension": dimensions,
                    "method": {
                        "name": "hnsw",
                        "engine": "faiss",
                        "space_type": "innerproduct",
                        "parameters": {"m": 32, "ef_construction": 128},
                    },
                },
            },
        },
    }


def pipeline_body(rank_constant: int = 60) -> dict[str, Any]:
    """A search pipeline fusing the hybrid query's sub-queries by RRF (OpenSearch 2.19+)."""
    return {
        "description": "chatbot hybrid search: BM25 and k-NN fused by reciprocal rank fusion",
        "phase_results_processors": [
            {"score-ranker-processor": {"combination": {"technique": "rrf", "rank_constant": rank_constant}}}
        ],
    }


def filter_clauses(where: SearchFilter | None) -> list[dict[str, Any]]:
    if where is None or where.is_empty():
        return []
    clauses: list[dict[str, Any]] = []
    if where.document_ids:
        clauses.append({"terms": {"document_id": list(where.document_ids)}})
    if where.source_prefix:
        clauses.append({"prefix": {"source": where.source_prefix}})
    if where.tags:
        clauses.append({"terms": {"tags": list(where.tags)}})
    dates = {k: v for k, v in (("gte", where.modified_after), ("lt", where.modified_before)) if v}
    if dates:
        clauses.append({"range": {"modified": dates}})
    return clauses


def lexical_query(query: str, k: int, where: SearchFilter | None = None) -> dict[str, Any]:
    return {
        "size": k,
        "_source": {"excludes": ["vector"]},
        "query": {
            "bool": {
                "must": {"multi_match": {"query": query, "fields": ["title^2", "text"]}},
                "filter": filter_clauses(where),
            }
        },
    }


def hybrid_query(
    query: str, vector: Sequence[float], k: int, fetch_k: int, where: SearchFilter | None = None
) -> dict[str, Any]:
    """BM25 and k-NN as the two sub-queries of a `hybrid` query (run with the RRF pipeline)."""
    filters = filter_clauses(where)
    knn: dict[str, Any] = {"vector": list(map(float, vector)), "k": fetch_k}
    if filters:
        knn["filter"] = {"bool": {"filter": filters}}
    return {
        "size": k,
        "_source": {"excludes": ["vector"]},
        "query": {
            "hybrid": {
                "queries": [
                    lexical_query(query, fetch_k, where)["query"],
                    {"knn": {"vector": knn}},
                ]
            }
        },
    }


def chunk_source(chunk: Document, vector: Sequence[float]) -> dict[str, Any]:
    meta = chunk.metadata
    return {
        "text": chunk.page_content,
        "title": meta.get("title", ""),
        "document_id": meta.get("document_id"),
        "section": meta.get("section", ""),
        "source": meta.get("source"),
        "tags": meta.get("tags", []),
        "modified": meta.get("modified"),
        "metadata": meta,
        "vector": list(map(float, vector)),
    }


def bulk_actions(
    index: str, removals: Iterable[str], chunks: Sequence[Document], ids: Sequence[str], vectors: np.ndarray
) -> list[dict[str, Any]]:
    actions: list[dict[str, Any]] = [{"_op_type": "delete", "_index": index, "_id": i} for i in removals]
    actions += [
        {"_op_type": "index", "_index": index, "_id": i, "_source": chunk_source(c, v)}
        for c, i, v in zip(chunks, ids, vectors)
    ]
    return actions


class OpenSearchStore:
    """Chunk store on an OpenSearch alias; the ingestion pipeline and retriever use it."""

    def __init__(self, client: Any, alias: str, embedding: Embeddings, *, model_name: str, rrf_k: int = 60):
        self.client = client
        self.alias = alias
        self._embedding = embedding
        self.model_name = model_name
        self.rrf_k = rrf_k
        self.path = alias  # what reports print as the index's name

    # -- lifecycle -------------------------------------------------------------------
    def ensure_index(self, dimensions: int) -> str:
        """Create `alias-v1` and the alias if neither exists yet; returns the index written to."""
        if self.client.indices.exists_alias(name=self.alias):
            return next(iter(self.client.indices.get_alias(name=self.alias)))
        if self.client.indices.exists(index=self.alias):  # a concrete index (a rebuild's target)
            return self.alias
        index = f"{self.alias}-v1"
        self.create_index(index, dimensions)
        self.client.indices.put_alias(index=index, name=self.alias)
        return index

    def create_index(self, index: str, dimensions: int) -> None:
        self.client.indices.create(index=index, body=index_body(dimensions, self.model_name))
        self.ensure_pipeline()

    def ensure_pipeline(self) -> bool:
        """Create the RRF search pipeline; a cluster without it cannot run hybrid search."""
        from opensearchpy.exceptions import RequestError

        try:
            body = pipeline_body(self.rrf_k)
            self.client.transport.perform_request("PUT", f"/_search/pipeline/{PIPELINE}", body=body)
            return True
        except RequestError as exc:
            log.error("OpenSearch refused the hybrid search pipeline (%s): hybrid searches will fail "
                      "(OpenSearch 2.19+ with the neural-search plugin is needed)", exc.error)
            return False

    def swap_alias(self, index: str) -> list[str]:
        """Point the alias at `index` in one atomic `_aliases` call; returns the old indexes."""
        old = list(self.client.indices.get_alias(name=self.alias)) if self.client.indices.exists_alias(
            name=self.alias) else []
        actions = [{"remove": {"index": o, "alias": self.alias}} for o in old]
        actions.append({"add": {"index": index, "alias": self.alias}})
        self.client.indices.update_aliases(body={"actions": actions})
        return old

    def snapshot(self, repository: str, name: str) -> dict[str, Any]:
        """Back up the indexes behind the alias into a registered snapshot repository."""
        indexes = ",".join(self.client.indices.get_alias(name=self.alias))
        return self.client.snapshot.create(repository=repository, snapshot=name,
                                           body={"indices": indexes}, wait_for_completion=False)

    def close(self) -> None:
        self.client.close()

    def ping(self) -> dict[str, Any]:
        health = self.client.cluster.health(index=self.alias)
        if health["status"] == "red":
            raise ConnectionError("the OpenSearch cluster is red")
        return {"cluster_status": health["status"]}

    # -- chunk-store protocol ----------------------------------------------------------
    def embed_texts(self, texts: list[str]) -> np.ndarray:
        embed_array = getattr(self._embedding, "embed_array", None)
        vectors = embed_array(texts) if embed_array else np.array(self._embedding.embed_documents(texts))
        return np.asarray(vectors, dtype=np.float32)

    def embed_query(self, query: str) -> np.ndarray:
        return np.asarray(self._embedding.embed_query(query), dtype=np.float32)

    def _read(self, body: dict[str, Any]) -> dict[str, Any] | None:
        """A search for bookkeeping; None while the index does not exist yet (nothing indexed)."""
        from opensearchpy.exceptions import NotFoundError

        try:
            return self.client.search(index=self.alias, body=body)
        except NotFoundError:
            return None

    def chunk_ids(self, document_id: str) -> list[str]:
        result = self._read({"size": MAX_IDS, "_source": False, "query": {"term": {"document_id": document_id}}})
        return [h["_id"] for h in result["hits"]["hits"]] if result else []

    def document_ids(self) -> list[str]:
        result = self._read({"size": 0, "aggs": {"documents": {"terms": {"field": "document_id", "size": MAX_IDS}}}})
        return sorted(b["key"] for b in result["aggregations"]["documents"]["buckets"]) if result else []

    def document_titles(self) -> dict[str, str]:
        body = {"size": 0, "aggs": {"documents": {"terms": {"field": "document_id", "size": MAX_IDS},
                                                  "aggs": {"title": {"terms": {"field": "title.raw", "size": 1}}}}}}
        result = self._read(body)
        buckets = result["aggregations"]["documents"]["buckets"] if result else []
        return {b["key"]: (b["title"]["buckets"][0]["key"] if b["title"]["buckets"] else b["key"]) for b in buckets}

    def iter_documents(self) -> Iterator[tuple[str, list[Document]]]:
        """Every document's chunks (scrolling, vectors left out), for copying an index."""
        from opensearchpy import helpers

        documents: dict[str, list[Document]] = {}
        query = {"_source": {"excludes": ["vector"]}, "query": {"match_all": {}}}
        for hit in helpers.scan(self.client, index=self.alias, query=query, size=500):
            meta = hit["_source"].get("metadata") or {}
            documents.setdefault(meta.get("document_id", ""), []).append(
                Document(id=hit["_id"], page_content=hit["_source"]["text"], metadata=meta)
            )
        for document_id in sorted(documents):
            yield document_id, sorted(documents[document_id], key=lambda d: d.metadata.get("chunk_index", 0))

    def integrity(self) -> dict[str, Any]:
        """Counts and the mapping's recorded model and dimension, for `chatbot verify`."""
        mapping = next(iter(self.client.indices.get_mapping(index=self.alias).values()))["mappings"]
        recorded = mapping.get("_meta", {})
        dimension = mapping.get("properties", {}).get("vector", {}).get("dimension")
        problems = []
        if recorded.get("embedding_model") not in (None, self.model_name):
            problems.append(f"the index holds {recorded['embedding_model']!r} vectors, not {self.model_name!r}")
        return {**self.stats(), "dimensions": dimension, "embedding_model": recorded.get("embedding_model"),
                "lexical_entries": self.count(), "problems": problems}

    def passage(self, chunk_id: str, document_id: str | None = None) -> Document | None:
        result = self._read({"size": 1, "_source": {"excludes": ["vector"]}, "query": {"ids": {"values": [chunk_id]}}})
        hits = result["hits"]["hits"] if result else []
        if not hits:
            return None
        source = hits[0]["_source"]
        return Document(id=chunk_id, page_content=source["text"], metadata=source.get("metadata") or {})

    def count(self) -> int:
        result = self._read({"size": 0, "track_total_hits": True, "query": {"match_all": {}}})
        return result["hits"]["total"]["value"] if result else 0

    def stats(self) -> dict[str, Any]:
        return {"path": self.alias, "documents": len(self.document_ids()), "chunks": self.count(),
                "embedding_model": self.model_name}

    def replace_document(
        self, document_id: str, chunks: Sequence[Document], ids: Sequence[str], vectors: np.ndarray | None = None
    ) -> int:
        from opensearchpy import helpers

        existing = set(self.chunk_ids(document_id))
        new = [n for n, i in enumerate(ids) if i not in existing]
        stale = existing - set(ids)
        if not new and not stale:
            return 0
        if vectors is None:
            vectors = self.embed_texts([chunks[n].page_content for n in new])
        else:
            vectors = np.asarray(vectors)[new]
        if new:
            self.ensure_index(vectors.shape[1])
        actions = bulk_actions(self.alias, stale, [chunks[n] for n in new], [ids[n] for n in new], vectors)
        # Retries with backoff on 429 (the cluster pushing back); refresh so the next read sees it.
        helpers.bulk(self.client, actions, max_retries=3, initial_backoff=1, refresh="wait_for")
        return len(new)

    def delete_documents(self, document_ids: Iterable[str]) -> int:
        ids = list(document_ids)
        if not ids:
            return 0
        result = self.client.delete_by_query(index=self.alias, body={"query": {"terms": {"document_id": ids}}},
                                             refresh=True)
        return int(result.get("deleted", 0))

    # -- search ------------------------------------------------------------------------
    def _documents(self, hits: list[dict[str, Any]], started: float) -> list[Document]:
        elapsed = round((time.perf_counter() - started) * 1000, 2)
        docs = []
        for hit in hits:
            meta = dict(hit["_source"].get("metadata") or {})
            meta.update(score=round(float(hit.get("_score") or 0.0), 4), search_ms=elapsed)
            docs.append(Document(id=hit["_id"], page_content=hit["_source"]["text"], metadata=meta))
        return docs

    def hybrid_search(self, query: str, k: int, fetch_k: int = 20, where: SearchFilter | None = None) -> list[Document]:
        started = time.perf_counter()
        body = hybrid_query(query, self.embed_query(query), k, fetch_k, where)
        hits = self.client.search(index=self.alias, body=body, params={"search_pipeline": PIPELINE})["hits"]["hits"]
        return self._documents(hits, started)

    def lexical_search(self, query: str, k: int, where: SearchFilter | None = None) -> list[Document]:
        started = time.perf_counter()
        hits = self.client.search(index=self.alias, body=lexical_query(query, k, where))["hits"]["hits"]
        return self._documents(hits, started)


def build_client(url: str, *, username: str | None, password: str | None, aws_region: str | None,
                 timeout: float, verify_certs: bool) -> Any:
    """An OpenSearch client with basic auth or AWS SigV4 (Amazon OpenSearch Service)."""
    from opensearchpy import OpenSearch, RequestsHttpConnection

    auth: Any = None
    if aws_region:
        import boto3  # only for SigV4; not a dependency of the default install
        from opensearchpy import AWSV4SignerAuth

        auth = AWSV4SignerAuth(boto3.Session().get_credentials(), aws_region, "es")
    elif username:
        auth = (username, password or "")
    return OpenSearch(
        hosts=[url], http_auth=auth, use_ssl=url.startswith("https"), verify_certs=verify_certs,
        connection_class=RequestsHttpConnection, timeout=timeout, max_retries=0, retry_on_timeout=False,
    )


class OpenSearchRetriever(BaseRetriever):
    """Top-k chunks by OpenSearch's hybrid query (BM25 + k-NN, RRF pipeline)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    store: OpenSearchStore
    k: int = 4
    fetch_k: int = 20

    def _get_relevant_documents(
        self, query: str, *, run_manager: Any = None, filter: SearchFilter | dict | None = None
    ) -> list[Document]:
        return self.store.hybrid_search(query, self.k, self.fetch_k, SearchFilter.from_value(filter))

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: Any = None, filter: SearchFilter | dict | None = None
    ) -> list[Document]:
        return await asyncio.to_thread(self._get_relevant_documents, query, filter=filter)
