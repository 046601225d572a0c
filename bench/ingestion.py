"""Ingestion throughput: documents -> chunks -> vectors -> index, embedding and writing apart.

Two corpora: the sample knowledge base, and a larger real one nobody on this project
wrote: the Python tutorial and FAQ as Debian's python3.11-doc ships them (reST sources,
read as text). Each is indexed into a fresh store, then indexed again unchanged (which
must write nothing).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from rich.progress import Progress

from bench.common import KNOWLEDGE_BASE, console

PYTHON_DOCS = Path("/usr/share/doc/python3.11/html/_sources")


def _corpus_python_docs() -> Path | None:
    if not PYTHON_DOCS.is_dir():
        return None
    root = Path(tempfile.mkdtemp(prefix="chatbot-bench-pydocs-"))
    for part in ("tutorial", "faq"):
        shutil.copytree(PYTHON_DOCS / part, root / part)
    return root


def _measure(name: str, root: Path) -> dict:
    from app.ingestion import index_directory
    from app.retrieval import EmbeddedVectorStore
    from app.retrieval.embeddings import MiniLMEmbeddings

    scratch = Path(tempfile.mkdtemp(prefix="chatbot-bench-index-"))
    try:
        store = EmbeddedVectorStore(scratch / "index.sqlite", MiniLMEmbeddings())
        with Progress(console=console) as progress:
            task = progress.add_task(f"indexing {name}", total=None)
            report = index_directory(
                store, root, on_start=lambda n: progress.update(task, total=n),
                on_progress=lambda _doc, n: progress.update(task, advance=n),
            )
        again = index_directory(store, root)
        return {
            "documents": report.documents,
            "chunks": report.chunks,
            "seconds": round(report.seconds, 2),
            "chunks_per_s": round(report.chunks_per_second, 1),
            "embedding_chunks_per_s": round(report.written / report.embed_seconds, 1) if report.embed_seconds else None,
            "writing_chunks_per_s": round(report.written / report.write_seconds, 1) if report.write_seconds else None,
            "unchanged_reindex_seconds": round(again.seconds, 2),
            "unchanged_reindex_written": again.written,
            "skipped_files": len(report.errors),
        }
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def run() -> dict:
    results = {"sample_kb": _measure("sample_kb", KNOWLEDGE_BASE)}
    docs = _corpus_python_docs()
    if docs is None:
        results["python_docs"] = {"skipped": "install Debian's python3.11-doc (make bench does)"}
    else:
        try:
            results["python_docs"] = _measure("python_docs (tutorial + faq)", docs)
        finally:
            shutil.rmtree(docs, ignore_errors=True)
    return results
