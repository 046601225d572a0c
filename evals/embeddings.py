"""Embedding health of an index (runbook: analyze_embeddings.py --sample-size 100).

On a random sample of chunks:
- drift: the cosine of each stored vector to a fresh embedding of its text by the configured
  model (1.0 when the index was built by this model; lower means re-index, runbook option 2);
- spread: the mean cosine between unrelated chunks (high means every vector looks alike and
  the search cannot tell them apart);
- separation: how much closer a chunk is to the other chunks of its document than to other
  documents' chunks;
- near duplicates: the share of sampled chunks with another chunk at cosine >= 0.98 (they
  take the places of distinct passages in the top k).
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np

DUPLICATE = 0.98


def analyze_embeddings(store, sample_size: int = 100, seed: int = 0) -> dict[str, Any]:
    ids = store.all_chunk_ids()
    if len(ids) < 2:
        raise ValueError("the index has fewer than 2 chunks: nothing to compare")
    sample = random.Random(seed).sample(ids, min(sample_size, len(ids)))
    documents = store.get_by_ids(sample)
    by_id = {d.id: d for d in documents}
    sample = [i for i in sample if i in by_id]
    stored = store.stored_vectors(sample)
    fresh = store.embed_texts([by_id[i].page_content for i in sample])
    drift = np.einsum("ij,ij->i", stored, fresh)

    similarity = stored @ stored.T
    owner = np.array([by_id[i].metadata.get("document_id") for i in sample])
    same = owner[:, None] == owner[None, :]
    off_diagonal = ~np.eye(len(sample), dtype=bool)
    within = similarity[same & off_diagonal]
    across = similarity[~same]
    # Near duplicates anywhere in the index: each sampled chunk's nearest other chunk.
    duplicates = 0
    for chunk_id, vector in zip(sample, stored, strict=True):
        neighbours = [(i, score) for i, score in store.vector_search(vector, 2) if i != chunk_id]
        duplicates += bool(neighbours and neighbours[0][1] >= DUPLICATE)
    return {
        "chunks": len(ids), "sampled": len(sample), "documents_sampled": int(len(set(owner))),
        "dimensions": int(stored.shape[1]),
        "norm": {"min": round(float(np.linalg.norm(stored, axis=1).min()), 4),
                 "max": round(float(np.linalg.norm(stored, axis=1).max()), 4)},
        "drift": {"mean": round(float(drift.mean()), 4), "min": round(float(drift.min()), 4),
                  "below_0.99": int((drift < 0.99).sum())},
        "spread": round(float(across.mean()), 4) if across.size else None,
        "within_document": round(float(within.mean()), 4) if within.size else None,
        "separation": round(float(within.mean() - across.mean()), 4) if within.size and across.size else None,
        "near_duplicates": round(duplicates / len(sample), 4),
    }
