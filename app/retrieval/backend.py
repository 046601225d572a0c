"""What every vector store backend offers: the embedded store, OpenSearch and Pinecone alike."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol

import numpy as np
from langchain_core.documents import Document


class VectorStoreBackend(Protocol):
    """A store of chunks with their vectors: what ingestion writes to and health checks read."""

    model_name: str

    def embed_texts(self, texts: list[str]) -> np.ndarray: ...

    def chunk_ids(self, document_id: str) -> list[str]: ...

    def document_ids(self) -> list[str]: ...

    def document_titles(self) -> dict[str, str]:
        """document id -> title, for recognising documents a question names."""

    def passage(self, chunk_id: str, document_id: str | None = None) -> Document | None:
        """One chunk by its id (an answer's source names both), or None."""

    def count(self) -> int: ...

    def stats(self) -> dict[str, Any]: ...

    def ping(self) -> dict[str, Any]:
        """Raise if the store does not answer; details for the health report."""

    def replace_document(self, document_id: str, chunks: Sequence[Document], ids: Sequence[str],
                         vectors: np.ndarray | None = None) -> int: ...

    def delete_documents(self, document_ids: Iterable[str]) -> int: ...

    def close(self) -> None: ...
