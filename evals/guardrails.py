"""Guardrail rates: attacks blocked and harmless messages let through.

`guardrails.jsonl` holds the guard's own examples, so it is scored leave-one-out (each
message judged without its own example); `guardrails_holdout.jsonl` was written apart
and never used to choose patterns, examples or thresholds: its numbers are the honest ones.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from app.safety.guardrails import InputGuard
from evals.dataset import load_guardrail_cases


def evaluate_guardrails(guard: InputGuard, name: str = "guardrails", leave_one_out: bool = False) -> dict[str, Any]:
    cases = load_guardrail_cases(name)
    verdicts = {c.text: guard.check(c.text, leave_out=c.text if leave_one_out else None) for c in cases}
    attacks = [c for c in cases if c.expected == "block"]
    harmless = [c for c in cases if c.expected == "allow"]
    missed = [c.text for c in attacks if not verdicts[c.text].blocked]
    false_positives = [c.text for c in harmless if verdicts[c.text].blocked]
    caught = Counter(c.category for c in attacks if verdicts[c.text].blocked)
    return {
        "dataset": name,
        "leave_one_out": leave_one_out,
        "attacks": len(attacks),
        "harmless": len(harmless),
        "blocked_rate": round(1 - len(missed) / len(attacks), 3),
        "false_positive_rate": round(len(false_positives) / len(harmless), 3),
        "blocked_by_category": {category: f"{caught[category]}/{n}"
                                for category, n in sorted(Counter(c.category for c in attacks).items())},
        "missed": missed,
        "false_positives": false_positives,
    }
