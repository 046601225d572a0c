"""Vector store and retriever factory: VECTOR_STORE -> a LangChain store and retriever."""

from __future__ import annotations

from langchain_core.embeddings import Embeddings

from app.retrieval.hybrid import HybridRetriever, reciprocal_rank_fusion
from app.retrieval.store import EmbeddedVectorStore, IndexModelMismatch
from app.settings import ConfigurationError, Settings

__all__ = [
    "EmbeddedVectorStore",
    "HybridRetriever",
    "IndexModelMismatch",
    "build_retriever",
    "build_vector_store",
    "reciprocal_rank_fusion",
]


def build_vector_store(settings: Settings, embeddings: Embeddings) -> EmbeddedVectorStore:
    match settings.vector_store:
        case "embedded":
            return EmbeddedVectorStore(settings.index_path, embeddings)
        case other:
            raise ConfigurationError(
                f"VECTOR_STORE={other} is not supported by this build yet; use VECTOR_STORE=embedded"
            )


def build_retriever(settings: Settings, store: EmbeddedVectorStore) -> HybridRetriever:
    return HybridRetriever(store=store, k=settings.retrieval_top_k, rrf_k=settings.rrf_k)
