"""Search-settings tuning (runbook: tune_search_params.py): Optuna over the hybrid search's knobs.

Searched: the fusion constant (RRF_K), the BM25 / vector weights (BM25_WEIGHT, with
VECTOR_WEIGHT = 1 - BM25_WEIGHT), the candidates each search contributes
(RETRIEVAL_FETCH_K) and the chunk size (CHUNK_SIZE, re-indexed into a scratch directory,
once per size). The first trial is the current settings, so the best is never worse than
what runs. The questions are split once into a tuning part (which Optuna sees) and a
held-out part (which it does not), and both are reported: a gain only on the tuning part
is overfitting.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna

from app.settings import Settings
from evals.dataset import EvalExample
from evals.retrieval import evaluate_retrieval

METRICS = {"relevance": "context_relevance", "ndcg": "ndcg@10", "mrr": "mrr", "hit5": "hit@5"}
CHUNK_SIZES = (400, 600, 800, 1200)
FETCH_KS = (10, 20, 40)


def split(items: list[EvalExample], holdout: float) -> tuple[list[EvalExample], list[EvalExample]]:
    """A stable split by item id: the same items are held out on every run."""
    def bucket(item: EvalExample) -> float:
        return int(hashlib.sha256(item.id.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF

    return [i for i in items if bucket(i) >= holdout], [i for i in items if bucket(i) < holdout]


def _queries(items: list[EvalExample]) -> list[dict[str, Any]]:
    return [{"id": i.id, "question": i.question, "relevant_doc_ids": list(i.relevant_doc_ids)} for i in items]


@dataclass
class SearchSpace:
    """Knobs with their current values first; `chunk_sizes` empty: keep the index's chunk size."""

    settings: Settings
    chunk_sizes: tuple[int, ...] = CHUNK_SIZES
    current: dict[str, Any] = field(init=False)

    def __post_init__(self) -> None:
        s = self.settings
        # The weights as one number: only their ratio changes the fused ranking.
        bm25_share = s.bm25_weight / ((s.bm25_weight + s.vector_weight) or 1)
        self.current = {"rrf_k": s.rrf_k, "bm25_weight": round(bm25_share, 3),
                        "retrieval_fetch_k": s.retrieval_fetch_k, "chunk_size": s.chunk_size}

    def suggest(self, trial: optuna.Trial) -> dict[str, Any]:
        params = {
            "rrf_k": trial.suggest_int("rrf_k", 1, 1000, log=True),
            "bm25_weight": round(trial.suggest_float("bm25_weight", 0.0, 1.0), 3),
            "retrieval_fetch_k": trial.suggest_categorical("retrieval_fetch_k", sorted({*FETCH_KS,
                                                                                        self.current["retrieval_fetch_k"]})),
        }
        sizes = sorted({*self.chunk_sizes, self.current["chunk_size"]}) if self.chunk_sizes else []
        params["chunk_size"] = (trial.suggest_categorical("chunk_size", sizes) if sizes
                                else self.current["chunk_size"])
        return params


class ScratchIndexes:
    """One embedded index of the knowledge base per chunk size, built on first use, in a scratch dir."""

    def __init__(self, settings: Settings, embeddings, source: Path,
                 existing: tuple[int, Any] | None = None):
        self._settings, self._embeddings, self._source = settings, embeddings, source
        self._root = Path(tempfile.mkdtemp(prefix="chatbot-tune-"))
        self._stores: dict[int, Any] = dict([existing]) if existing else {}

    def store(self, chunk_size: int, on_build: Callable[[int], None] = lambda size: None):
        if chunk_size not in self._stores:
            from app.ingestion import index_directory
            from app.retrieval import EmbeddedVectorStore

            on_build(chunk_size)
            # Always an embedded store at a path of its own: never the service's index (nor a
            # remote one that VECTOR_STORE names), whatever the settings say.
            store = EmbeddedVectorStore(self._root / f"chunks-{chunk_size}.sqlite", self._embeddings)
            index_directory(store, self._source, chunk_size=chunk_size, chunk_overlap=overlap_for(chunk_size))
            self._stores[chunk_size] = store
        return self._stores[chunk_size]

    def close(self) -> None:
        for store in self._stores.values():
            if Path(store.path).is_relative_to(self._root):
                store.close()
        shutil.rmtree(self._root, ignore_errors=True)


def overlap_for(chunk_size: int) -> int:
    """The overlap the service's default keeps in proportion (120 of 800)."""
    return round(chunk_size * 0.15)


def tune(settings: Settings, indexes: ScratchIndexes, items: list[EvalExample], *, metric: str, trials: int,
         passages: int, holdout: float = 0.3, space: SearchSpace | None = None, seed: int = 0,
         on_trial: Callable[[int, float], None] = lambda n, value: None,
         on_build: Callable[[int], None] = lambda size: None) -> dict[str, Any]:
    """The best settings found for `metric` with every metric of the current and the best settings."""
    from app.retrieval import hybrid_retriever

    key = METRICS[metric]
    space = space or SearchSpace(settings)
    tuning, held_out = split([i for i in items if i.relevant_doc_ids], holdout)
    if len(tuning) < 2:
        raise ValueError(f"{len(tuning)} labelled questions left to tune on: too few (lower --holdout)")

    def scores(params: dict[str, Any], part: list[EvalExample]) -> dict[str, float]:
        tuned = settings.model_copy(update={**params, "vector_weight": round(1 - params["bm25_weight"], 3)})
        store = indexes.store(params["chunk_size"], on_build)
        retriever = hybrid_retriever(tuned, store, k=10)
        report = evaluate_retrieval(store, retriever, _queries(part), passages=passages)
        return {name: round(value, 4) for name, value in report["hybrid"].items()}

    def objective(trial: optuna.Trial) -> float:
        value = scores(space.suggest(trial), tuning)[key]
        on_trial(trial.number, value)
        return value

    optuna.logging.set_verbosity(logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    study.enqueue_trial({k: v for k, v in space.current.items() if k != "chunk_size" or space.chunk_sizes})
    study.optimize(objective, n_trials=trials)
    best = {**space.current, **study.best_trial.params}
    best["bm25_weight"] = round(best["bm25_weight"], 3)
    return {
        "metric": key, "trials": trials, "questions": {"tuning": len(tuning), "held_out": len(held_out)},
        "current": {"settings": space.current, "tuning": scores(space.current, tuning),
                    "held_out": scores(space.current, held_out) if held_out else {}},
        "best": {"settings": best, "tuning": scores(best, tuning),
                 "held_out": scores(best, held_out) if held_out else {}},
    }


def settings_lines(best: dict[str, Any]) -> dict[str, str]:
    """The environment variables that select the best settings."""
    return {
        "RRF_K": str(best["rrf_k"]),
        "BM25_WEIGHT": str(best["bm25_weight"]),
        "VECTOR_WEIGHT": str(round(1 - best["bm25_weight"], 3)),
        "RETRIEVAL_FETCH_K": str(best["retrieval_fetch_k"]),
        "CHUNK_SIZE": str(best["chunk_size"]),
        "CHUNK_OVERLAP": str(overlap_for(best["chunk_size"])),
    }
