"""Retrieval on an external corpus nobody here wrote: Debian's Python documentation and its FAQ.

The dataset (`chatbot eval prepare python-docs`): the FAQ's questions, labelled with the
pages their answers reference; the corpus: every other page (488 reST sources). The whole
corpus is indexed into a scratch DATA_DIR (the embedding is most of the time), then each
question is searched three ways: hybrid (the service's), vectors alone and BM25 alone; the
hybrid search once more with the runbook's weights (BM25 0.3, vector 0.7: "enable hybrid
search"), on the same index.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from rich.progress import track

from bench.common import console

CHUNKS = 20
RUNBOOK_WEIGHTS = {"bm25_weight": 0.3, "vector_weight": 0.7}


def run() -> dict:
    from app.ingestion import index_directory
    from app.retrieval import build_vector_store, hybrid_retriever
    from app.retrieval.embeddings import MiniLMEmbeddings
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
        retriever = hybrid_retriever(settings, store, CHUNKS)
        quality = evaluate_retrieval(store, retriever, queries, modes=MODES, k=CHUNKS,
                                     progress=lambda items: track(items, description="python_docs", console=console))
        weighted = hybrid_retriever(settings.model_copy(update=RUNBOOK_WEIGHTS), store, CHUNKS)
        quality["hybrid_bm25_0.3_vector_0.7"] = evaluate_retrieval(
            store, weighted, queries, k=CHUNKS,
            progress=lambda items: track(items, description="python_docs (weighted)", console=console))["hybrid"]
        store.close()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    quality.pop("per_question")
    return {"pages": pages, "chunks": report.chunks, "indexing_seconds": round(indexing_seconds, 1),
            **quality, **{f"{name}_beats_both_on_ndcg@10": quality[name]["ndcg@10"] > max(
                quality["vector"]["ndcg@10"], quality["bm25"]["ndcg@10"])
                for name in ("hybrid", "hybrid_bm25_0.3_vector_0.7")}}
