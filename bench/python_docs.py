"""Retrieval on an external corpus nobody here wrote: Debian's Python documentation and its FAQ.

The dataset (`chatbot eval prepare python-docs`): the FAQ's questions, labelled with the
pages their answers reference; the corpus: every other page (488 reST sources). The whole
corpus is indexed into a scratch DATA_DIR (the embedding is most of the time), then each
question is searched three ways: hybrid (the service's), vectors alone and BM25 alone.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from rich.progress import track

from bench.common import console

CHUNKS = 20


def run() -> dict:
    from app.embeddings import MiniLMEmbeddings
    from app.ingestion import index_directory
    from app.retrieval import HybridRetriever, build_vector_store
    from app.settings import Settings
    from evals import python_docs
    from evals.retrieval import MODES, evaluate_retrieval

    if not (python_docs.SOURCES / "faq").is_dir():
        return {"skipped": "install Debian's python3.11-doc (make bench does)"}
    scratch = Path(tempfile.mkdtemp(prefix="chatbot-pydocs-"))
    try:
        queries = python_docs.build()
        corpus = scratch / "corpus"
        pages = python_docs.link_corpus(python_docs.SOURCES, corpus)
        settings = Settings(data_dir=scratch / "data")
        store = build_vector_store(settings, MiniLMEmbeddings())
        console.print(f"python_docs: indexing {pages} pages")
        started = time.perf_counter()
        with console.status("indexing the Python documentation"):
            report = index_directory(store, corpus, chunk_size=settings.chunk_size,
                                     chunk_overlap=settings.chunk_overlap)
        if hasattr(store, "warm_up"):
            store.warm_up()
        indexing_seconds = time.perf_counter() - started
        # The same 20 chunks from each search, so that the rankings compare like with like.
        retriever = HybridRetriever(store=store, k=CHUNKS, rrf_k=settings.rrf_k)
        quality = evaluate_retrieval(store, retriever, queries, modes=MODES, k=CHUNKS,
                                     progress=lambda items: track(items, description="python_docs", console=console))
        store.close()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    quality.pop("per_question")
    return {"pages": pages, "chunks": report.chunks, "indexing_seconds": round(indexing_seconds, 1),
            **quality, "hybrid_beats_both_on_ndcg@10": quality["hybrid"]["ndcg@10"] > max(
                quality["vector"]["ndcg@10"], quality["bm25"]["ndcg@10"])}
