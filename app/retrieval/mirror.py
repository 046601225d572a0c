"""Writes to the primary store and its embedded replica, so fallback search has the same data."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from langchain_core.documents import Document


class MirroredStore:
    """The ingestion pipeline's chunk store for a remote primary with an embedded replica.

    Reads come from the primary; a chunk counts as present only when both stores have it,
    so a replica that missed a write is repaired by the next `chatbot index`.
    """

    def __init__(self, primary: Any, replica: Any):
        self.primary, self.replica = primary, replica
        self.model_name = primary.model_name
        self.path = primary.path

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        return self.primary.embed_texts(texts)

    def chunk_ids(self, document_id: str) -> list[str]:
        return sorted(set(self.primary.chunk_ids(document_id)) & set(self.replica.chunk_ids(document_id)))

    def document_ids(self) -> list[str]:
        return sorted(set(self.primary.document_ids()) | set(self.replica.document_ids()))

    def passage(self, chunk_id: str, document_id: str | None = None) -> Document | None:
        return self.primary.passage(chunk_id, document_id) or self.replica.passage(chunk_id, document_id)

    def count(self) -> int:
        return self.primary.count()

    def replace_document(
        self, document_id: str, chunks: Sequence[Document], ids: Sequence[str], vectors: np.ndarray | None = None
    ) -> int:
        if vectors is None:
            vectors = self.embed_texts([c.page_content for c in chunks])
        written = self.primary.replace_document(document_id, chunks, ids, vectors)
        repaired = self.replica.replace_document(document_id, chunks, ids, vectors)
        return max(written, repaired)

    def delete_documents(self, document_ids: Iterable[str]) -> int:
        ids = list(document_ids)
        self.replica.delete_documents(ids)
        return self.primary.delete_documents(ids)
