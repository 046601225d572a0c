"""Vector store and retriever factory: VECTOR_STORE -> a LangChain store and retriever."""

from __future__ import annotations

from langchain_core.embeddings import Embeddings

from app.retrieval.catalog import IndexCatalog
from app.retrieval.hybrid import HybridRetriever, reciprocal_rank_fusion
from app.retrieval.store import EmbeddedVectorStore, IndexModelMismatch
from app.settings import ConfigurationError, Settings

__all__ = [
    "EmbeddedVectorStore",
    "HybridRetriever",
    "IndexCatalog",
    "IndexModelMismatch",
    "build_retriever",
    "build_vector_store",
    "reciprocal_rank_fusion",
]


def build_vector_store(
    settings: Settings, embeddings: Embeddings, index: str | None = None
) -> EmbeddedVectorStore:
    """The store serving `index` (default VECTOR_STORE_INDEX), following its alias."""
    name = index or settings.vector_store_index
    match settings.vector_store:
        case "embedded":
            catalog = IndexCatalog(settings.index_dir)
            return EmbeddedVectorStore(
                catalog.resolve_path(name), embeddings, resolve=lambda: catalog.resolve_path(name)
            )
        case other:
            raise ConfigurationError(
                f"VECTOR_STORE={other} is not supported by this build yet; use VECTOR_STORE=embedded"
            )


def build_retriever(settings: Settings, store: EmbeddedVectorStore) -> HybridRetriever:
    return HybridRetriever(store=store, k=settings.retrieval_top_k, rrf_k=settings.rrf_k)
