"""Heading-aware chunks with stable, content-derived ids."""

from __future__ import annotations

import hashlib

from langchain_core.documents import Document
from langchain_text_splitters import MarkdownHeaderTextSplitter, RecursiveCharacterTextSplitter

from app.ingestion.loaders import LoadedDocument

_HEADERS = [("#", "h1"), ("##", "h2"), ("###", "h3")]


def split_document(
    document: LoadedDocument, document_id: str, *, chunk_size: int, chunk_overlap: int
) -> list[Document]:
    """Sections by Markdown heading, then pieces of at most `chunk_size` characters."""
    sections = MarkdownHeaderTextSplitter(_HEADERS, strip_headers=False).split_text(document.text)
    splitter = RecursiveCharacterTextSplitter(chunk_size=chunk_size, chunk_overlap=chunk_overlap)
    chunks = []
    seen: set[tuple[str, str]] = set()
    for section in splitter.split_documents(sections):
        heading = section.metadata.get("h3") or section.metadata.get("h2") or ""
        if (heading, section.page_content) in seen:
            continue  # the same text twice under one heading: one chunk (its id is its content)
        seen.add((heading, section.page_content))
        chunks.append(
            Document(
                page_content=section.page_content,
                metadata={
                    "document_id": document_id,
                    "title": document.title,
                    "section": heading,
                    "source": document.source,
                    "modified": document.modified,
                    "tags": document.tags,
                    "format": document.format,
                    "chunk_index": len(chunks),
                },
            )
        )
    return chunks


def chunk_id(chunk: Document) -> str:
    """A hash of the document id, section and text: unchanged chunks keep their ids."""
    key = "\0".join([chunk.metadata["document_id"], chunk.metadata["section"], chunk.page_content])
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]
