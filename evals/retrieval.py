"""Retrieval quality of an embedded index on a labelled dataset: hybrid, vectors alone, BM25 alone.

Per question: the ranked documents of each search (top k chunks, each document once, at
its best rank) scored by `evals.ranking`, and two measures of the passages the model
reads (the first `passages` of the hybrid search):

- `context_relevance`, the runbook's "context relevance score" (SLO > 0.7): the share of
  those passages that come from a document labelled relevant to the question;
- `context_similarity`: their mean cosine similarity to the question (all-MiniLM-L6-v2),
  which needs no label; with this encoder a passage that answers a question is mostly at
  0.4-0.65, about where an unrelated passage of the same topic is, so it is no substitute.

Used by `chatbot eval search`, `chatbot eval tune` and the benchmarks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

from evals.ranking import document_ranking, hit_at, ndcg_at, reciprocal_rank, summarise

MODES = ("hybrid", "vector", "bm25")


def _scores(ranking: list[str], relevant: set[str]) -> dict[str, float]:
    return {"hit@1": hit_at(ranking, relevant, 1), "hit@5": hit_at(ranking, relevant, 5),
            "mrr": reciprocal_rank(ranking, relevant), "ndcg@10": ndcg_at(ranking, relevant, 10)}


def context_relevance(read: list[str | None], relevant: set[str]) -> float:
    """The share of the passages read that come from a relevant document (0 when none was read)."""
    return sum(d in relevant for d in read) / len(read) if read else 0.0


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
            read = documents[:passages]
            vectors = (np.asarray(store.embed_texts([d.page_content for d in read]), dtype=np.float32)
                       if read else np.zeros((0, question.shape[0]), dtype=np.float32))
            scores = {**_scores(ranking, relevant),
                      "context_relevance": context_relevance([d.metadata.get("document_id") for d in read], relevant),
                      "context_similarity": float((vectors @ question).mean()) if read else 0.0}
            per_mode["hybrid"].append(scores)
            per_question.append({"id": query.get("id"), "question": query["question"], "relevant": sorted(relevant),
                                 "retrieved": ranking[:5], **{n: round(v, 3) for n, v in scores.items()},
                                 "passages": [{"document_id": d.metadata.get("document_id"),
                                               "section": d.metadata.get("section"),
                                               "text": d.page_content[:400]} for d in read]})
        for mode in ("vector", "bm25"):
            if mode in modes:
                hits = (store.vector_search(question, k) if mode == "vector"
                        else store.lexical_search(query["question"], k))
                chunks = store.get_by_ids([chunk_id for chunk_id, _ in hits])
                per_mode[mode].append(_scores(document_ranking(d.metadata["document_id"] for d in chunks),
                                              relevant))
    return {"questions": len(queries), **{mode: summarise(scores) for mode, scores in per_mode.items()},
            "per_question": per_question}
