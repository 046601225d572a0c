"""Hybrid search latency (p50/p95) and ranking quality on the sample knowledge base.

Latency covers the whole retriever call: embedding the question (never from the query
cache), exact vector search, BM25, fusion and reading the chunks. Quality is measured per document (a hit is a
chunk of a relevant document) for hybrid, vector-only and BM25-only rankings.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from rich.progress import track

from bench.common import console, indexed_data_dir, percentiles, sample_questions


def _doc_ranking(store, chunk_ids: list[str]) -> list[str]:
    docs = store.get_by_ids(chunk_ids)
    return list(dict.fromkeys(d.metadata["document_id"] for d in docs))


def _quality(rankings: list[tuple[list[str], set[str]]]) -> dict[str, float]:
    hit1 = sum(bool(r[:1] and r[0] in rel) for r, rel in rankings) / len(rankings)
    hit4 = sum(bool(set(r[:4]) & rel) for r, rel in rankings) / len(rankings)
    mrr = sum(next((1 / n for n, d in enumerate(r, 1) if d in rel), 0.0) for r, rel in rankings) / len(rankings)
    return {"hit@1": round(hit1, 3), "hit@4": round(hit4, 3), "mrr": round(mrr, 3)}


def run(iterations: int = 5) -> dict:
    from app.retrieval import HybridRetriever, build_vector_store
    from app.retrieval.embeddings import MiniLMEmbeddings
    from app.settings import Settings

    data_dir = indexed_data_dir()
    embeddings = MiniLMEmbeddings()
    store = build_vector_store(Settings(data_dir=data_dir), embeddings)
    # BM25 beside the vector search on threads of its own, as the service runs it.
    retriever = HybridRetriever(store=store, k=4, pool=ThreadPoolExecutor(max_workers=4))
    questions = sample_questions()
    retriever.invoke("warm up")

    latencies = []
    for _ in track(range(iterations), description="search latency", console=console):
        for item in questions:
            embeddings.clear_query_cache()  # measure a question seen for the first time
            started = time.perf_counter()
            retriever.invoke(item["question"])
            latencies.append((time.perf_counter() - started) * 1000)

    lexical_ms, vector_ms = [], []
    rankings = {"hybrid": [], "vector": [], "bm25": []}
    for item in questions:
        relevant = set(item["relevant_doc_ids"])
        vector = store.embed_query(item["question"])
        started = time.perf_counter()
        vector_hits = store.vector_search(vector, 20)
        vector_ms.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        lexical_hits = store.lexical_search(item["question"], 20)
        lexical_ms.append((time.perf_counter() - started) * 1000)
        hybrid = [d.metadata["document_id"] for d in retriever.invoke(item["question"])]
        rankings["hybrid"].append((list(dict.fromkeys(hybrid)), relevant))
        rankings["vector"].append((_doc_ranking(store, [i for i, _ in vector_hits]), relevant))
        rankings["bm25"].append((_doc_ranking(store, [i for i, _ in lexical_hits]), relevant))

    return {
        "index": {"chunks": store.count(), "documents": len(store.document_ids())},
        "hybrid_search": percentiles(latencies),
        "vector_search_only": percentiles(vector_ms),
        "bm25_search_only": percentiles(lexical_ms),
        "quality_by_document": {name: _quality(r) for name, r in rankings.items()},
        "questions": len(questions),
    }
