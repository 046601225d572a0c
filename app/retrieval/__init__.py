"""Vector store and retriever factory: VECTOR_STORE -> a LangChain store and retriever."""

from __future__ import annotations

from concurrent.futures import Executor
from typing import Any

from langchain_core.embeddings import Embeddings
from langchain_core.retrievers import BaseRetriever

from app.retrieval.catalog import IndexCatalog
from app.retrieval.fallback import FallbackRetriever
from app.retrieval.hybrid import HybridRetriever, reciprocal_rank_fusion
from app.retrieval.mirror import MirroredStore
from app.retrieval.store import EmbeddedVectorStore, IndexModelMismatch
from app.settings import ConfigurationError, Settings

__all__ = [
    "EmbeddedVectorStore",
    "HybridRetriever",
    "IndexCatalog",
    "IndexModelMismatch",
    "FallbackRetriever",
    "build_embedded_store",
    "build_index_writer",
    "build_retriever",
    "build_vector_store",
    "hybrid_retriever",
    "uses_replica",
    "reciprocal_rank_fusion",
]


def build_embedded_store(settings: Settings, embeddings: Embeddings, index: str | None = None) -> EmbeddedVectorStore:
    """The embedded store serving `index` (default VECTOR_STORE_INDEX), following its alias."""
    name = index or settings.vector_store_index
    catalog = IndexCatalog(settings.index_dir)
    return EmbeddedVectorStore(catalog.resolve_path(name), embeddings, resolve=lambda: catalog.resolve_path(name),
                               ann_min_chunks=settings.ann_min_chunks)


def build_vector_store(settings: Settings, embeddings: Embeddings, index: str | None = None) -> Any:
    """The primary store that VECTOR_STORE selects."""
    match settings.vector_store:
        case "embedded":
            return build_embedded_store(settings, embeddings, index)
        case "opensearch":
            from app.retrieval.opensearch import OpenSearchStore, build_client

            if not settings.vector_store_url:
                raise ConfigurationError("VECTOR_STORE=opensearch needs VECTOR_STORE_URL")
            client = build_client(
                settings.vector_store_url,
                username=settings.vector_store_username,
                password=settings.vector_store_password.get_secret_value() if settings.vector_store_password else None,
                aws_region=settings.vector_store_aws_region,
                timeout=settings.vector_store_timeout,
                verify_certs=settings.vector_store_verify_certs,
            )
            return OpenSearchStore(client, index or settings.vector_store_index, embeddings,
                                   model_name=getattr(embeddings, "model_name", "unknown"), rrf_k=settings.rrf_k)
        case "pinecone":
            from app.retrieval.pinecone import PineconeStore, build_index

            if not (settings.vector_store_url and settings.pinecone_api_key):
                raise ConfigurationError(
                    "VECTOR_STORE=pinecone needs VECTOR_STORE_URL (the index host) and PINECONE_API_KEY"
                )
            index_client = build_index(settings.pinecone_api_key.get_secret_value(), settings.vector_store_url,
                                       settings.vector_store_timeout)
            return PineconeStore(index_client, embeddings, model_name=getattr(embeddings, "model_name", "unknown"),
                                 namespace=settings.pinecone_namespace)
        case other:  # Settings validates the name; this guards a new literal left unhandled
            raise ConfigurationError(f"unknown VECTOR_STORE {other!r}")


def uses_replica(settings: Settings) -> bool:
    """Whether an embedded replica stands behind a remote primary (ENABLE_FALLBACK_SEARCH)."""
    return settings.enable_fallback_search and settings.vector_store != "embedded"


def build_index_writer(settings: Settings, embeddings: Embeddings, index: str | None = None) -> Any:
    """The store `chatbot index` writes to: the primary, mirrored to the replica if enabled."""
    primary = build_vector_store(settings, embeddings, index)
    if uses_replica(settings):
        return MirroredStore(primary, build_embedded_store(settings, embeddings, index))
    return primary


def hybrid_retriever(settings: Settings, store: EmbeddedVectorStore, k: int | None = None,
                     pool: Executor | None = None) -> HybridRetriever:
    """The embedded store's hybrid search as the settings tune it (BM25 on `pool`'s threads)."""
    return HybridRetriever(store=store, k=k or settings.retrieval_top_k, fetch_k=settings.retrieval_fetch_k,
                           rrf_k=settings.rrf_k, vector_weight=settings.vector_weight,
                           bm25_weight=settings.bm25_weight, pool=pool)


def build_retriever(settings: Settings, store: Any, replica: EmbeddedVectorStore | None = None,
                    pool: Executor | None = None) -> BaseRetriever:
    """The retriever over the primary store, falling back to `replica` when one is given."""
    k = settings.retrieval_top_k
    match settings.vector_store:
        case "embedded":
            retriever: BaseRetriever = hybrid_retriever(settings, store, pool=pool)
        case "opensearch":
            from app.retrieval.opensearch import OpenSearchRetriever

            retriever = OpenSearchRetriever(store=store, k=k)
        case _:
            from app.retrieval.pinecone import PineconeRetriever

            retriever = PineconeRetriever(store=store, k=k)
    if replica is None:
        return retriever
    return FallbackRetriever(
        primary=retriever,
        replica=hybrid_retriever(settings, replica, pool=pool),
        timeout_seconds=settings.vector_store_timeout,
    )
