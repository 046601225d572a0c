"""The service's Prometheus metrics (served at `/metrics`)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

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
HTTP_REQUESTS = Counter("chatbot_http_requests_total", "Requests by route template, method and status",
                        ["route", "method", "status"])
HTTP_LATENCY = Histogram(
    "chatbot_http_request_duration_seconds", "Request duration (a stream: until it ends)", ["route", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
TIME_TO_FIRST_TOKEN = Histogram(
    "chatbot_time_to_first_token_seconds", "From the start of a turn to its first answer token",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30),
)
SEARCH_LATENCY = Histogram(
    "chatbot_vector_search_duration_seconds", "Hybrid search of one question (embedding included)",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
LLM_LATENCY = Histogram(
    "chatbot_llm_duration_seconds", "One model answer, by the provider that wrote it", ["provider"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60),
)
LLM_TOKENS = Counter("chatbot_llm_tokens_total", "Model tokens by provider and kind (prompt, completion)",
                     ["provider", "kind"])
GUARDRAIL_BLOCKS = Counter("chatbot_guardrail_blocks_total", "Messages and passages blocked, by reason",
                           ["reason"])
CACHE_LOOKUPS = Counter("chatbot_response_cache_total", "Response cache lookups by result (hit, miss)", ["result"])
QUEUE_DEPTH = Gauge("chatbot_llm_queue_depth", "Turns waiting for the model (LLM_MAX_QUEUE bounds it)")
GATE_FALLBACKS = Counter("chatbot_model_gate_fallbacks_total",
                         "Turns the shared model gate admitted per replica because Redis could not be reached")
TURN_LOCK_FALLBACKS = Counter("chatbot_turn_lock_fallbacks_total",
                              "Holds the shared turn lock (Redis) could not take, by what happened "
                              "(local: this replica's lock served; refused: a decision got 503)", ["outcome"])
