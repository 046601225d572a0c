"""Ingestion: loaders, chunking and the indexing pipeline."""

from app.ingestion.chunking import chunk_id, split_document
from app.ingestion.loaders import LoadedDocument, UnsupportedDocument, load_document
from app.ingestion.pipeline import (
    IndexReport,
    copy_index,
    embed_chunks,
    find_sources,
    index_directory,
    index_embeddings,
    prepare_directory,
    read_chunks,
)

__all__ = [
    "IndexReport",
    "LoadedDocument",
    "UnsupportedDocument",
    "chunk_id",
    "copy_index",
    "embed_chunks",
    "find_sources",
    "index_directory",
    "index_embeddings",
    "load_document",
    "prepare_directory",
    "read_chunks",
    "split_document",
]
