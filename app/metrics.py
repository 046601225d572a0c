"""The service's Prometheus metrics (served at `/metrics`)."""

from __future__ import annotations

from prometheus_client import Counter

LLM_REQUESTS = Counter(
    "chatbot_llm_requests_total",
    "Chat model calls by provider and outcome: answered, retried, failed, interrupted (failed mid-answer)",
    ["provider", "outcome"],
)
ANSWERS = Counter("chatbot_answers_total", "Answers by the provider that wrote them", ["provider", "degraded"])
