"""Ingestion: Markdown files -> heading-aware chunks with stable ids -> the vector store.

A chunk's id is a hash of its document id, section and text, so re-indexing an
unchanged file writes nothing, and a changed file replaces exactly its old chunks.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from langchain_core.documents import Document
from langchain_text_splitters import MarkdownHeaderTextSplitter, RecursiveCharacterTextSplitter

from app.retrieval.store import EmbeddedVectorStore

SUFFIXES = (".md", ".markdown", ".txt")
_HEADERS = [("#", "h1"), ("##", "h2"), ("###", "h3")]


@dataclass
class IndexReport:
    documents: int = 0
    chunks: int = 0
    written: int = 0
    unchanged_documents: int = 0
    removed_documents: list[str] = field(default_factory=list)
    seconds: float = 0.0


def document_id_for(path: Path, root: Path) -> str:
    """`ops/backups.md` under the root -> `ops/backups`: stable across machines."""
    return path.relative_to(root).with_suffix("").as_posix()


def find_sources(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES)


def split_document(
    text: str, document_id: str, source: str, *, chunk_size: int, chunk_overlap: int
) -> list[Document]:
    """Sections by Markdown heading, then pieces of at most `chunk_size` characters."""
    title_match = re.search(r"^#\s+(.+)$", text, re.MULTILINE)
    title = title_match.group(1).strip() if title_match else document_id
    sections = MarkdownHeaderTextSplitter(_HEADERS, strip_headers=False).split_text(text)
    splitter = RecursiveCharacterTextSplitter(chunk_size=chunk_size, chunk_overlap=chunk_overlap)
    chunks = []
    for section in splitter.split_documents(sections):
        heading = section.metadata.get("h3") or section.metadata.get("h2") or ""
        chunks.append(
            Document(
                page_content=section.page_content,
                metadata={
                    "document_id": document_id,
                    "title": title,
                    "section": heading,
                    "source": source,
                    "chunk_index": len(chunks),
                },
            )
        )
    return chunks


def chunk_id(chunk: Document) -> str:
    key = "\0".join([chunk.metadata["document_id"], chunk.metadata["section"], chunk.page_content])
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


def load_directory(root: Path, *, chunk_size: int, chunk_overlap: int) -> Iterator[tuple[str, list[Document]]]:
    """(document id, chunks) for every source file under `root`."""
    for path in find_sources(root):
        document_id = document_id_for(path, root)
        modified = datetime.fromtimestamp(path.stat().st_mtime, UTC).isoformat()
        chunks = split_document(
            path.read_text(encoding="utf-8"),
            document_id,
            path.as_posix(),
            chunk_size=chunk_size,
            chunk_overlap=chunk_overlap,
        )
        for chunk in chunks:
            chunk.metadata["modified"] = modified
        yield document_id, chunks


def index_directory(
    store: EmbeddedVectorStore,
    root: Path,
    *,
    chunk_size: int = 800,
    chunk_overlap: int = 120,
    sync: bool = False,
    on_document: Callable[[str, int], None] | None = None,
) -> IndexReport:
    """Bring the store up to date with `root`; with `sync`, drop documents no longer there."""
    if not root.is_dir():
        raise FileNotFoundError(f"knowledge base directory not found: {root}")
    report = IndexReport()
    started = datetime.now(UTC)
    seen = set()
    for document_id, chunks in load_directory(root, chunk_size=chunk_size, chunk_overlap=chunk_overlap):
        seen.add(document_id)
        written = store.replace_document(document_id, chunks, [chunk_id(c) for c in chunks])
        report.documents += 1
        report.chunks += len(chunks)
        report.written += written
        report.unchanged_documents += written == 0
        if on_document:
            on_document(document_id, written)
    if sync:
        stale = [d for d in store.document_ids() if d not in seen]
        store.delete_documents(stale)
        report.removed_documents = stale
    report.seconds = (datetime.now(UTC) - started).total_seconds()
    return report
