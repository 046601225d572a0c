"""The embedded store at scale: hybrid search latency, HNSW recall, build time, memory.

Chunks are synthetic but text-like: each joins three real sentences (from the sample
knowledge base and the Python tutorial and FAQ) and its vector is the normalised sum of
those sentences' real embeddings plus a little noise, so BM25 sees real vocabulary and
the vectors real structure. Embedding a million real chunks here would take 14 hours.

Sizes: BENCH_SCALE_SIZES (default 10000,100000; the issue's 1M is
`BENCH_SCALE_SIZES=10000,100000,1000000 python -m bench scale`, about 15 minutes).
"""

from __future__ import annotations

import gc
import os
import re
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from langchain_core.documents import Document
from rich.progress import track

from bench.common import KNOWLEDGE_BASE, console, percentiles, sample_questions
from bench.ingestion import PYTHON_DOCS

BATCH = 20_000
WARM_UP_QUERIES = 300
FTS5_MAX_SIZE = 100_000  # FTS5 scores every matching row: seconds a query at 1M


def _sentences() -> list[str]:
    texts = [p.read_text() for p in KNOWLEDGE_BASE.glob("*.md")]
    if PYTHON_DOCS.is_dir():
        texts += [p.read_text() for part in ("tutorial", "faq") for p in (PYTHON_DOCS / part).rglob("*.txt")]
    sentences = {s.strip() for t in texts for s in re.split(r"(?<=[.!?])\s+", t.replace("\n", " ")) if 40 < len(s) < 300}
    return sorted(sentences)


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS")) / 1024


def _build(store, size: int, sentences: list[str], base: np.ndarray, rng) -> float:
    started = time.perf_counter()
    for start in track(range(0, size, BATCH), description=f"writing {size} chunks", console=console):
        n = min(BATCH, size - start)
        picks = rng.integers(0, len(sentences), size=(n, 3))
        vectors = base[picks].sum(axis=1) + rng.normal(scale=0.05, size=(n, base.shape[1]))
        docs = [Document(page_content=" ".join(sentences[i] for i in row),
                         metadata={"document_id": f"doc-{(start + k) // 10}", "title": f"Synthetic {start + k}"})
                for k, row in enumerate(picks)]
        store._write([], docs, [f"c{start + k}" for k in range(n)], vectors.astype(np.float32))
    return time.perf_counter() - started


def _measure(size: int, sentences: list[str], base: np.ndarray, questions: list[str], embeddings) -> dict:
    from app.retrieval import EmbeddedVectorStore, HybridRetriever
    from app.retrieval.lexical import lexical_path

    scratch = Path(tempfile.mkdtemp(prefix="chatbot-bench-scale-"))
    try:
        rss_before = _rss_mb()
        store = EmbeddedVectorStore(scratch / "index.sqlite", embeddings, ann_min_chunks=50_000)
        write_s = _build(store, size, sentences, base, np.random.default_rng(size))
        ann_s = None
        if store.ann_status()["stale"]:
            with console.status(f"building HNSW over {size} chunks"):
                started = time.perf_counter()
                store.build_ann()
                ann_s = time.perf_counter() - started
        store.close()
        # Measure as the service runs: a process that opens the index and warms it up.
        store = EmbeddedVectorStore(scratch / "index.sqlite", embeddings, ann_min_chunks=50_000)
        started = time.perf_counter()
        store.warm_up()
        load_s = time.perf_counter() - started
        query_vectors = np.asarray(embeddings.embed_documents(questions), dtype=np.float32)
        # As the service does at start-up: warm the caches (with other queries than the
        # measured ones), then freeze what is alive out of the garbage collector's passes.
        warm_rng = np.random.default_rng(0)
        for pick in warm_rng.integers(0, len(sentences), size=WARM_UP_QUERIES):
            store.vector_search(base[pick], 20)
            store.lexical_search(" ".join(sentences[pick].split()[:8]), 20)
        gc.freeze()
        ids, matrix = store._vectors()
        recall = []
        for q in query_vectors:
            approximate = {i for i, _ in store.vector_search(q, 10)}
            exact = {ids[i] for i in np.argsort(-(matrix @ q))[:10]}
            recall.append(len(approximate & exact) / 10)
        retriever = HybridRetriever(store=store, k=4, fetch_k=20, pool=ThreadPoolExecutor(max_workers=4))
        vector_ms, lexical_ms, hybrid_ms = [], [], []
        for _ in range(3):
            for question, q in zip(questions, query_vectors):
                t0 = time.perf_counter()
                store.vector_search(q, 20)
                t1 = time.perf_counter()
                store.lexical_search(question, 20)
                t2 = time.perf_counter()
                retriever.search(question, q)  # both at once, fused, chunks read
                t3 = time.perf_counter()
                vector_ms.append((t1 - t0) * 1000)
                lexical_ms.append((t2 - t1) * 1000)
                hybrid_ms.append((t3 - t2) * 1000)
        fts_ms = []
        if size <= FTS5_MAX_SIZE:  # the lexical index of record, for comparison (one pass)
            for question in questions:
                t0 = time.perf_counter()
                store._fts_search(question, 20)
                fts_ms.append((time.perf_counter() - t0) * 1000)
        ann_file = scratch / "index.sqlite.hnsw.npz"
        return {
            "chunks": size,
            "hnsw": store.ann_status()["enabled"],
            "hybrid_search": percentiles(hybrid_ms),
            "vector_search": percentiles(vector_ms),
            "bm25_search": percentiles(lexical_ms),
            "bm25_fts5_only": percentiles(fts_ms) if fts_ms else None,
            "lexical_index": store.lexical_status(),
            "recall_at_10_vs_exact": round(float(np.mean(recall)), 3),
            "write_seconds": round(write_s, 1),
            "service_warm_up_seconds": round(load_s, 2),
            "hnsw_build_seconds": round(ann_s, 1) if ann_s is not None else None,
            "index_mb": round((scratch / "index.sqlite").stat().st_size / 2**20, 1),
            "hnsw_mb": round(ann_file.stat().st_size / 2**20, 1) if ann_file.is_file() else 0,
            "tantivy_mb": round(sum(f.stat().st_size for f in lexical_path(store.path).iterdir()) / 2**20, 1),
            "rss_growth_mb": round(_rss_mb() - rss_before, 1),
        }
    finally:
        gc.unfreeze()
        shutil.rmtree(scratch, ignore_errors=True)


def run() -> dict:
    from app.retrieval.embeddings import MiniLMEmbeddings

    embeddings = MiniLMEmbeddings()
    sentences = _sentences()
    with console.status(f"embedding {len(sentences)} real sentences"):
        base = embeddings.embed_array(sentences)
    questions = [item["question"] for item in sample_questions()]
    started = time.perf_counter()
    for q in questions:
        embeddings.embed_array([q])
    embed_ms = (time.perf_counter() - started) * 1000 / len(questions)
    sizes = [int(s) for s in os.environ.get("BENCH_SCALE_SIZES", "10000,100000").split(",")]
    return {
        "sentences": len(sentences),
        "question_embedding_ms": round(embed_ms, 2),
        "goal": "p95 <= 10 ms at 1M chunks with recall@10 >= 0.95 (search, question embedding aside)",
        "sizes": [_measure(size, sentences, base, questions, embeddings) for size in sizes],
    }
