"""The service's Prometheus metrics (served at `/metrics`)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

LLM_REQUESTS = Counter(
    "chatbot_llm_requests_total",
    "Chat model calls by provider and outcome: answered, retried, failed, interrupted (failed mid-answer)",
    ["provider", "outcome"],
)
ANSWERS = Counter("chatbot_answers_total", "Answers by the provider that wrote them", ["provider", "degraded"])
TOOL_CALLS = Counter(
    "chatbot_tool_calls_total",
    "Tool calls by tool and outcome: success, unknown_tool, invalid_arguments, timeout, error, rejected",
    ["tool", "outcome"],
)
TOOL_DURATION = Histogram(
    "chatbot_tool_duration_seconds", "Tool call duration", ["tool"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
