"""Guardrail rates: the attack suite (leave-one-out) and the held-out set, plus the guard's cost per message."""

from __future__ import annotations

import time


def run() -> dict:
    from app.retrieval.embeddings import MiniLMEmbeddings
    from app.safety.guardrails import InputGuard
    from evals.dataset import load_guardrail_cases
    from evals.guardrails import evaluate_guardrails

    embeddings = MiniLMEmbeddings()
    guard = InputGuard(embeddings)
    texts = [c.text for c in load_guardrail_cases("guardrails_holdout")]
    started = time.perf_counter()
    for text in texts:
        guard.check(f"{text} ")  # a new string: no query-cache hit, the embedding is part of the cost
    per_message_ms = (time.perf_counter() - started) * 1000 / len(texts)
    return {
        "suite_leave_one_out": evaluate_guardrails(guard, "guardrails", leave_one_out=True),
        "holdout": evaluate_guardrails(guard, "guardrails_holdout"),
        "check_ms_per_message": round(per_message_ms, 2),
    }
