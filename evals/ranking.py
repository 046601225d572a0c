"""Ranking scores, per question, over the ranked document ids a search returned.

- hit@k: a relevant document is among the first k;
- MRR: 1 / the rank of the first relevant document (0 when none is retrieved);
- nDCG@10: binary relevance, log2 discount, normalised by the ideal ranking of the
  question's relevant documents.
Rankings are of documents: several chunks of one document count once, at their best rank.
The passages' context relevance and similarity are evals/retrieval.py's.
"""

from __future__ import annotations

import math
from collections.abc import Iterable


def document_ranking(document_ids: Iterable[str]) -> list[str]:
    """Chunk hits in rank order -> distinct documents in rank order."""
    return list(dict.fromkeys(document_ids))


def hit_at(ranking: list[str], relevant: set[str], k: int) -> float:
    return float(bool(set(ranking[:k]) & relevant))


def reciprocal_rank(ranking: list[str], relevant: set[str]) -> float:
    return next((1.0 / n for n, doc in enumerate(ranking, start=1) if doc in relevant), 0.0)


def ndcg_at(ranking: list[str], relevant: set[str], k: int = 10) -> float:
    dcg = sum(1.0 / math.log2(n + 1) for n, doc in enumerate(ranking[:k], start=1) if doc in relevant)
    ideal = sum(1.0 / math.log2(n + 1) for n in range(1, min(len(relevant), k) + 1))
    return dcg / ideal if ideal else 0.0


def summarise(per_question: list[dict[str, float | None]]) -> dict[str, float]:
    """The mean of each metric over the questions that have a score for it (None: not scored)."""
    means = {}
    for name in dict.fromkeys(name for q in per_question for name in q):
        values = [q[name] for q in per_question if q.get(name) is not None]
        means[name] = round(sum(values) / len(values), 3) if values else 0.0
    return means
