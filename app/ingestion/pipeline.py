"""The ingestion pipeline: sources -> chunks -> vectors -> index, whole or step by step.

`index_directory` does it all in one go (`chatbot index --source`). The runbook's steps
run alone too: `prepare_directory` writes the chunks (`chatbot prepare`), `embed_chunks`
their vectors (`chatbot embed`), `index_embeddings` loads both (`chatbot index
--embeddings`). Each document is written in one transaction, and ids come from content,
so re-running any step after a crash converges on the same index: no duplicates, no
orphans.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.documents import Document

from app.ingestion.chunking import chunk_id, split_document
from app.ingestion.loaders import SUFFIXES, UnsupportedDocument, load_document
from app.retrieval.store import EmbeddedVectorStore, IndexModelMismatch

CHUNKS_FILE = "chunks.jsonl"
VECTORS_FILE = "vectors.npy"
MANIFEST_FILE = "manifest.json"
Progress = Callable[[str, int], None]  # (document id, chunks handled)


@dataclass
class IndexReport:
    documents: int = 0
    chunks: int = 0
    written: int = 0
    unchanged_documents: int = 0
    removed_documents: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    embed_seconds: float = 0.0
    write_seconds: float = 0.0
    seconds: float = 0.0

    @property
    def chunks_per_second(self) -> float:
        return self.written / self.seconds if self.seconds else 0.0


def find_sources(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES)


def document_id_for(path: Path, root: Path) -> str:
    """`ops/backups.md` under the root -> `ops/backups`: stable across machines."""
    return path.relative_to(root).with_suffix("").as_posix()


def load_directory(
    root: Path, *, chunk_size: int, chunk_overlap: int, errors: list[str] | None = None
) -> Iterator[tuple[str, list[Document]]]:
    """(document id, chunks) for every readable source under `root`; unreadable files
    are reported in `errors` and skipped."""
    if not root.is_dir():
        raise FileNotFoundError(f"source directory not found: {root}")
    for path in find_sources(root):
        document_id = document_id_for(path, root)
        try:
            document = load_document(path)
        except UnsupportedDocument as exc:
            if errors is None:
                raise
            errors.append(str(exc))
            continue
        yield document_id, split_document(document, document_id, chunk_size=chunk_size, chunk_overlap=chunk_overlap)


def _write_documents(
    store: EmbeddedVectorStore,
    documents: list[tuple[str, list[Document], np.ndarray | None]],
    report: IndexReport,
    on_progress: Progress | None,
) -> None:
    """Write each document's chunks, embedding only the chunks the index lacks."""
    for document_id, chunks, vectors in documents:
        ids = [chunk_id(c) for c in chunks]
        existing = set(store.chunk_ids(document_id))
        if vectors is None:
            missing = [n for n, i in enumerate(ids) if i not in existing]
            started = time.perf_counter()
            vectors = np.zeros((len(chunks), 0), dtype=np.float32)
            if missing:
                embedded = store.embed_texts([chunks[n].page_content for n in missing])
                vectors = np.zeros((len(chunks), embedded.shape[1]), dtype=np.float32)
                vectors[missing] = embedded
            report.embed_seconds += time.perf_counter() - started
        started = time.perf_counter()
        written = store.replace_document(document_id, chunks, ids, vectors if vectors.shape[1] else None)
        report.write_seconds += time.perf_counter() - started
        report.documents += 1
        report.chunks += len(chunks)
        report.written += written
        report.unchanged_documents += written == 0 and existing == set(ids)
        if on_progress:
            on_progress(document_id, len(chunks))


def _sync(store: EmbeddedVectorStore, seen: set[str], report: IndexReport) -> None:
    stale = [d for d in store.document_ids() if d not in seen]
    store.delete_documents(stale)
    report.removed_documents = stale


def index_directory(
    store: EmbeddedVectorStore,
    root: Path,
    *,
    chunk_size: int = 800,
    chunk_overlap: int = 120,
    sync: bool = False,
    on_start: Callable[[int], None] | None = None,
    on_progress: Progress | None = None,
) -> IndexReport:
    """Bring the index up to date with `root`; with `sync`, drop documents no longer there.

    `on_start` receives the number of chunks to handle, `on_progress` each document's.
    """
    started = time.perf_counter()
    report = IndexReport()
    documents = list(load_directory(root, chunk_size=chunk_size, chunk_overlap=chunk_overlap, errors=report.errors))
    if on_start:
        on_start(sum(len(chunks) for _, chunks in documents))
    _write_documents(store, [(d, c, None) for d, c in documents], report, on_progress)
    if sync:
        # An unreadable file keeps its old chunks: a parse error is not a deletion.
        unreadable = {document_id_for(Path(e.split(":", 1)[0]), root) for e in report.errors}
        _sync(store, {d for d, _ in documents} | unreadable, report)
    report.seconds = time.perf_counter() - started
    return report


def _atomic_directory(target: Path) -> Path:
    """A scratch directory beside `target`, renamed over it by `_commit_directory`."""
    target.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}-"))


def _commit_directory(scratch: Path, target: Path) -> None:
    if target.exists():
        old = target.with_name(f".{target.name}-old-{os.getpid()}")
        target.rename(old)
        scratch.rename(target)
        shutil.rmtree(old)
    else:
        scratch.rename(target)


def _write_chunks(path: Path, documents: list[tuple[str, list[Document]]]) -> int:
    count = 0
    with path.open("w", encoding="utf-8") as out:
        for document_id, chunks in documents:
            for chunk in chunks:
                row = {"id": chunk_id(chunk), "document_id": document_id, "text": chunk.page_content,
                       "metadata": chunk.metadata}
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
                count += 1
    return count


def read_chunks(directory: Path) -> list[tuple[str, list[Document]]]:
    """The (document id, chunks) that `prepare_directory` or `embed_chunks` wrote."""
    path = directory / CHUNKS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: run `chatbot prepare` first")
    documents: dict[str, list[Document]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        documents.setdefault(row["document_id"], []).append(
            Document(id=row["id"], page_content=row["text"], metadata=row["metadata"])
        )
    return list(documents.items())


def prepare_directory(root: Path, output: Path, *, chunk_size: int, chunk_overlap: int) -> IndexReport:
    """Load and split `root` into `output/chunks.jsonl` (replaced atomically)."""
    started = time.perf_counter()
    report = IndexReport()
    documents = list(load_directory(root, chunk_size=chunk_size, chunk_overlap=chunk_overlap, errors=report.errors))
    scratch = _atomic_directory(output)
    report.chunks = _write_chunks(scratch / CHUNKS_FILE, documents)
    report.documents = len(documents)
    (scratch / MANIFEST_FILE).write_text(json.dumps({"source": str(root), "documents": report.documents,
                                                     "chunks": report.chunks}, indent=2))
    _commit_directory(scratch, output)
    report.seconds = time.perf_counter() - started
    return report


def embed_chunks(
    source: Path,
    output: Path,
    embed: Callable[[list[str]], np.ndarray],
    model_name: str,
    *,
    batch_size: int = 64,
    on_progress: Callable[[int], None] | None = None,
) -> IndexReport:
    """Embed `source/chunks.jsonl` in batches into `output/` (chunks, vectors, manifest)."""
    started = time.perf_counter()
    documents = read_chunks(source)
    texts = [c.page_content for _, chunks in documents for c in chunks]
    parts = []
    for start in range(0, len(texts), batch_size):
        parts.append(np.asarray(embed(texts[start : start + batch_size]), dtype=np.float32))
        if on_progress:
            on_progress(len(parts[-1]))
    vectors = np.concatenate(parts) if parts else np.zeros((0, 0), dtype=np.float32)
    scratch = _atomic_directory(output)
    _write_chunks(scratch / CHUNKS_FILE, documents)
    np.save(scratch / VECTORS_FILE, vectors)
    manifest = {"model": model_name, "dimensions": int(vectors.shape[1]) if len(vectors) else 0, "chunks": len(texts)}
    (scratch / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2))
    _commit_directory(scratch, output)
    elapsed = time.perf_counter() - started
    return IndexReport(documents=len(documents), chunks=len(texts), embed_seconds=elapsed, seconds=elapsed)


def index_embeddings(
    store: EmbeddedVectorStore, source: Path, *, sync: bool = False, on_progress: Progress | None = None
) -> IndexReport:
    """Load what `embed_chunks` wrote into the index (no embedding here)."""
    started = time.perf_counter()
    manifest = json.loads((source / MANIFEST_FILE).read_text())
    if manifest.get("model") != store.model_name:
        raise IndexModelMismatch(
            f"{source} holds {manifest.get('model')!r} vectors; the index uses {store.model_name!r}"
        )
    documents = read_chunks(source)
    vectors = np.load(source / VECTORS_FILE)
    if len(vectors) != sum(len(c) for _, c in documents):
        raise ValueError(f"{source}: {len(vectors)} vectors for a different number of chunks")
    report = IndexReport()
    batches, offset = [], 0
    for document_id, chunks in documents:
        batches.append((document_id, chunks, vectors[offset : offset + len(chunks)]))
        offset += len(chunks)
    _write_documents(store, batches, report, on_progress)
    if sync:
        _sync(store, {d for d, _ in documents}, report)
    report.seconds = time.perf_counter() - started
    return report


def copy_index(
    source: Any,
    target: Any,
    *,
    on_start: Callable[[int], None] | None = None,
    on_progress: Progress | None = None,
) -> IndexReport:
    """Re-embed every chunk of `source` into `target` (a rebuild, e.g. for a new model)."""
    started = time.perf_counter()
    report = IndexReport()
    if on_start:
        on_start(source.count())
    for document_id, chunks in source.iter_documents():
        report.written += target.replace_document(document_id, chunks, [c.id for c in chunks])
        report.documents += 1
        report.chunks += len(chunks)
        if on_progress:
            on_progress(document_id, len(chunks))
    report.seconds = time.perf_counter() - started
    return report
