"""query_analytics: read-only answers about the service itself, from its own ledgers.

Token usage and cost (the usage ledger), conversations started per day (the conversation
registry), model latency percentiles (the usage ledger) and tool success rates (the
tool-call ledger), over a named period. Each metric is one fixed query: no SQL, and no
text from the user, reaches the database.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal, get_args

from langchain_core.tools import InjectedToolArg
from pydantic import Field

from app.conversations.registry import ConversationRegistry
from app.ledgers.tool_calls import ToolCallLedger
from app.ledgers.usage import UsageLedger

Metric = Literal["token_usage", "cost", "conversations", "llm_latency", "tool_success"]
Period = Literal["today", "7d", "30d"]
METRICS: tuple[str, ...] = get_args(Metric)
PERIODS = {"today": 1, "7d": 7, "30d": 30}

TOOL_SPEC = {
    "name": "query_analytics",
    "description": (
        "Answer questions about the chatbot service itself: token usage, cost, conversations per day, "
        "model latency percentiles or tool success rates, over today, the last 7 days or the last 30 days."
    ),
    "timeout_seconds": 10.0,
    "scope": "admin",  # usage and cost of every owner: operators only
    "side_effects": False,
    "examples": [
        "How many tokens did we use this week?",
        "What did the chatbot cost in the last 30 days?",
        "How many conversations were started today?",
        "What is the model latency p95 this week?",
        "What are the tool success rates?",
        "Show token usage for today",
        "How much did we spend on the LLM today?",
        "How many conversations per day this month?",
    ],
}



def configure(settings: Any) -> dict[str, Any]:
    """The ledgers it reads: model usage, the conversation registry, tool calls."""
    return {"usage": UsageLedger.from_settings(settings),
            "conversations": ConversationRegistry(settings.checkpoint_url),
            "tool_calls": ToolCallLedger(settings.ledger_url)}


def _days(period: str) -> tuple[str, str, float]:
    today = dt.datetime.now(dt.UTC).date()
    first = today - dt.timedelta(days=PERIODS[period] - 1)
    since = dt.datetime.combine(first, dt.time(), dt.UTC).timestamp()
    return first.isoformat(), today.isoformat(), since


def _percentile(ordered: list[float], q: float) -> float:
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


def query_analytics(
    metric: Annotated[Metric, Field(description="What to report")],
    period: Annotated[Period, Field(description="Over which days")] = "7d",
    usage: Annotated[UsageLedger | None, InjectedToolArg] = None,
    conversations: Annotated[ConversationRegistry | None, InjectedToolArg] = None,
    tool_calls: Annotated[ToolCallLedger | None, InjectedToolArg] = None,
) -> dict[str, Any]:
    if usage is None or conversations is None or tool_calls is None:
        raise RuntimeError("the analytics ledgers are not configured")
    first, last, since = _days(period)
    span = "today" if period == "today" else f"from {first} to {last}"
    answer: dict[str, Any] = {"metric": metric, "period": period, "first_day": first, "last_day": last}
    if metric in ("token_usage", "cost"):
        rows = usage.report(first, last)
        totals = {k: sum(r[k] for r in rows) for k in ("prompt_tokens", "completion_tokens", "total_tokens",
                                                        "cost_usd", "calls")}
        answer.update(totals, per_day=rows)
        answer["summary"] = (
            f"Token usage {span}: {totals['total_tokens']:,} tokens ({totals['prompt_tokens']:,} prompt, "
            f"{totals['completion_tokens']:,} completion) in {totals['calls']:,} model calls"
            if metric == "token_usage" else
            f"Estimated model cost {span}: ${totals['cost_usd']:,.2f} for {totals['total_tokens']:,} tokens"
        ) + "."
    elif metric == "conversations":
        per_day = conversations.started_per_day(since)
        answer.update(per_day=per_day, total=sum(per_day.values()))
        days = "; ".join(f"{day}: {n}" for day, n in per_day.items()) or "none"
        answer["summary"] = f"Conversations started {span}: {answer['total']:,} ({days})."
    elif metric == "llm_latency":
        ordered = sorted(usage.latencies(first, last))
        if not ordered:
            answer["summary"] = f"No answered model calls {span}."
        else:
            answer.update(calls=len(ordered), p50_ms=_percentile(ordered, 0.5), p95_ms=_percentile(ordered, 0.95),
                          p99_ms=_percentile(ordered, 0.99))
            answer["summary"] = (f"Model latency {span} over {len(ordered):,} calls: p50 {answer['p50_ms']:,} ms, "
                                 f"p95 {answer['p95_ms']:,} ms, p99 {answer['p99_ms']:,} ms.")
    else:
        tools = tool_calls.metrics(PERIODS[period], now=None)
        answer["tools"] = tools
        lines = "; ".join(f"{t['tool']}: {t['success_pct']}% of {t['calls']:,} calls succeeded" for t in tools)
        answer["summary"] = f"Tool success rates {span}: {lines or 'no tool calls'}."
    return answer


_METRIC_WORDS = [
    ("cost", r"\b(?:cost|costs|spend|spent|bill|billing|price|dollars?)\b"),
    ("llm_latency", r"\b(?:latency|latencies|p50|p95|p99|response times?|slow)\b"),
    ("tool_success", r"\btools?\b.*\b(?:success|fail|failure|rates?|errors?)|\b(?:success|failure) rates?\b"),
    ("conversations", r"\bconversations?\b|\bchats?\b|\bsessions?\b"),
    ("token_usage", r"\btokens?\b|\busage\b"),
]
_PERIOD_WORDS = [
    ("today", r"\btoday\b|\bthis morning\b|\bso far\b"),
    ("30d", r"\b(?:month|30 days|last 30|this month|past month)\b"),
    ("7d", r"\b(?:week|7 days|last 7|this week|past week)\b"),
]
_ANALYTICS_QUESTION = re.compile(r"\b(?:how (?:many|much)|what (?:is|are|was|were|did)|show|report|give me)\b",
                                 re.IGNORECASE)


def extract_arguments(message: str) -> dict[str, Any] | None:
    """Arguments from a plain-language question, for chat models without tool calling."""
    text = message.lower()
    if not _ANALYTICS_QUESTION.search(text):
        return None
    metric = next((m for m, pattern in _METRIC_WORDS if re.search(pattern, text)), None)
    if metric is None:
        return None
    period = next((p for p, pattern in _PERIOD_WORDS if re.search(pattern, text)), "7d")
    return {"metric": metric, "period": period}
