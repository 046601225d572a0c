"""Retrieval quality of an embedded index on a labelled dataset: hybrid, vectors alone, BM25 alone.

Per question: the ranked documents of each search (top k chunks, each document once, at
its best rank) scored by `evals.metrics`, and the context relevance of the passages the
model would read (hybrid). Used by `chatbot eval search` and the benchmarks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

from evals.metrics import document_ranking, hit_at, ndcg_at, reciprocal_rank, summarise

MODES = ("hybrid", "vector", "bm25")


def _scores(ranking: list[str], relevant: set[str]) -> dict[str, float]:
    return {"hit@1": hit_at(ranking, relevant, 1), "hit@5": hit_at(ranking, relevant, 5),
            "mrr": reciprocal_rank(ranking, relevant), "ndcg@10": ndcg_at(ranking, relevant, 10)}


def evaluate_retrieval(store, retriever, queries: list[dict], *, passages: int = 4, k: int = 20,
                       modes: Iterable[str] = ("hybrid",),
                       progress: Callable[[Iterable], Iterable] = lambda items: items) -> dict:
    """Mean scores per mode (and per question, for the hybrid search)."""
    modes = list(modes)
    per_mode: dict[str, list[dict[str, float]]] = {mode: [] for mode in modes}
    per_question = []
    for query in progress(queries):
        relevant = set(query["relevant_doc_ids"])
        question = np.asarray(store.embed_query(query["question"]), dtype=np.float32)
        if "hybrid" in modes:
            documents = retriever.invoke(query["question"])
            ranking = document_ranking(d.metadata.get("document_id", "") for d in documents)
            read = [d.page_content for d in documents[:passages]]
            vectors = np.asarray(store.embed_texts(read), dtype=np.float32) if read else np.zeros((0, 1))
            scores = {**_scores(ranking, relevant),
                      "context_relevance": float((vectors @ question).mean()) if read else 0.0}
            per_mode["hybrid"].append(scores)
            per_question.append({"question": query["question"], "relevant": sorted(relevant),
                                 "retrieved": ranking[:5], **{n: round(v, 3) for n, v in scores.items()}})
        for mode in ("vector", "bm25"):
            if mode in modes:
                hits = (store.vector_search(question, k) if mode == "vector"
                        else store.lexical_search(query["question"], k))
                chunks = store.get_by_ids([chunk_id for chunk_id, _ in hits])
                per_mode[mode].append(_scores(document_ranking(d.metadata["document_id"] for d in chunks),
                                              relevant))
    return {"questions": len(queries), **{mode: summarise(scores) for mode, scores in per_mode.items()},
            "per_question": per_question}
