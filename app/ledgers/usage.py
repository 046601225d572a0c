"""The usage ledger: every chat model call, with its tokens, latency and estimated cost.

One row per call attempt (answered, retried, failed, interrupted), so that the ledger
accounts for what providers bill, not only for the answers users saw. SQLite under
DATA_DIR by default; PostgreSQL when DATABASE_URL is set, shared by every replica.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import time
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import case, func, select

from app.ledgers.database import Database, owned
from app.ledgers.tables import llm_usage
from app.settings import ConfigurationError, Settings

log = logging.getLogger("chatbot.usage")
# USD per 1,000 tokens (prompt, completion). LLM_PRICES adds to or overrides this table.
DEFAULT_PRICES_PER_1K: dict[str, tuple[float, float]] = {
    "gpt-4o-mini": (0.00015, 0.0006),
    "gpt-4o": (0.0025, 0.01),
    "gpt-4.1-mini": (0.0004, 0.0016),
    "gpt-4.1": (0.002, 0.008),
    "gpt-4": (0.03, 0.06),
    "gpt-4-32k": (0.06, 0.12),
    "gpt-35-turbo": (0.0005, 0.0015),
    "gpt-3.5-turbo": (0.0005, 0.0015),
}
FREE_PROVIDERS = ("local", "extractive")


@dataclass(frozen=True)
class ModelCall:
    provider: str
    model: str
    outcome: str  # answered, retried, failed, interrupted
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_ms: float = 0.0
    conversation_id: str | None = None
    estimated: bool = False  # tokens counted by us, not reported by the provider


def parse_prices(text: str) -> dict[str, tuple[float, float]]:
    """LLM_PRICES: `{"model": [prompt_usd_per_1k, completion_usd_per_1k], ...}`."""
    prices = dict(DEFAULT_PRICES_PER_1K)
    if not text.strip():
        return prices
    try:
        extra = json.loads(text)
        prices.update({str(model): (float(p), float(c)) for model, (p, c) in extra.items()})
    except (ValueError, TypeError, AttributeError) as exc:
        raise ConfigurationError(
            'LLM_PRICES must be JSON like {"my-model": [0.0005, 0.0015]} (USD per 1,000 prompt and completion tokens)'
        ) from exc
    return prices


def _days(first_day: str, last_day: str) -> Any:
    return llm_usage.c.day.between(first_day, last_day)


class UsageLedger:
    def __init__(self, db: Database | str, prices: dict[str, tuple[float, float]] | None = None):
        self.prices = prices or dict(DEFAULT_PRICES_PER_1K)
        self._db, self._owns_db = owned(db)
        self._db.require("ledgers")

    @classmethod
    def from_settings(cls, settings: Settings, db: Database | None = None) -> UsageLedger:
        return cls(db or settings.ledger_url, parse_prices(settings.llm_prices))

    def cost(self, provider: str, model: str, prompt_tokens: int, completion_tokens: int) -> float:
        if provider in FREE_PROVIDERS:
            return 0.0
        prompt_price, completion_price = self.prices.get(model, self.prices.get(model.lower(), (0.0, 0.0)))
        return prompt_tokens / 1000 * prompt_price + completion_tokens / 1000 * completion_price

    def record(self, call: ModelCall, at: float | None = None) -> None:
        at = time.time() if at is None else at
        day = dt.datetime.fromtimestamp(at, dt.UTC).date().isoformat()
        cost = self.cost(call.provider, call.model, call.prompt_tokens, call.completion_tokens)
        self._db.execute(llm_usage.insert(), {**asdict(call), "at": at, "day": day, "cost_usd": cost})

    async def arecord(self, call: ModelCall) -> None:
        """Record without blocking the event loop; a ledger failure never fails an answer."""
        try:
            await asyncio.to_thread(self.record, call)
        except Exception as exc:  # pragma: no cover - logged, not raised
            log.error("could not record model usage: %s", type(exc).__name__)

    def report(self, first_day: str, last_day: str) -> list[dict[str, Any]]:
        """Per day from `first_day` to `last_day` (YYYY-MM-DD, inclusive): tokens, cost, calls."""
        u = llm_usage.c
        rows = self._db.execute(
            select(u.day, func.sum(u.prompt_tokens), func.sum(u.completion_tokens), func.sum(u.cost_usd),
                   func.count(), func.sum(case((u.outcome == "answered", 0), else_=1)))
            .where(_days(first_day, last_day)).group_by(u.day).order_by(u.day))
        return [{"date": d, "prompt_tokens": int(p or 0), "completion_tokens": int(c or 0),
                 "total_tokens": int((p or 0) + (c or 0)), "cost_usd": float(cost or 0.0), "calls": int(n),
                 "failed_calls": int(f or 0)} for d, p, c, cost, n, f in rows]

    def by_provider(self, first_day: str, last_day: str) -> list[dict[str, Any]]:
        u = llm_usage.c
        rows = self._db.execute(
            select(u.provider, u.model, func.count(), func.sum(u.prompt_tokens + u.completion_tokens),
                   func.sum(u.cost_usd))
            .where(_days(first_day, last_day)).group_by(u.provider, u.model).order_by(u.provider, u.model))
        return [{"provider": p, "model": m, "calls": int(n), "total_tokens": int(t or 0), "cost_usd": float(c or 0)}
                for p, m, n, t, c in rows]

    def by_outcome(self, first_day: str, last_day: str) -> dict[str, dict[str, float]]:
        """Calls and cost per outcome: what retried or failed calls cost beside the answers."""
        u = llm_usage.c
        rows = self._db.execute(select(u.outcome, func.count(), func.sum(u.cost_usd))
                                .where(_days(first_day, last_day)).group_by(u.outcome))
        return {o: {"calls": int(n), "cost_usd": float(c or 0.0)} for o, n, c in rows}

    def top_conversations(self, first_day: str, last_day: str, limit: int = 5) -> list[dict[str, Any]]:
        """The conversations that cost the most (then used the most tokens) on those days."""
        u = llm_usage.c
        tokens, cost = func.sum(u.prompt_tokens + u.completion_tokens), func.sum(u.cost_usd)
        rows = self._db.execute(
            select(u.conversation_id, func.count(), tokens, cost)
            .where(_days(first_day, last_day), u.conversation_id.is_not(None)).group_by(u.conversation_id)
            .order_by(cost.desc(), tokens.desc()).limit(limit))
        return [{"conversation_id": i, "calls": int(n), "total_tokens": int(t or 0), "cost_usd": float(c or 0.0)}
                for i, n, t, c in rows]

    def conversations(self, first_day: str, last_day: str) -> int:
        """How many conversations had a model call on those days."""
        u = llm_usage.c
        [(n,)] = self._db.execute(select(func.count(u.conversation_id.distinct()))
                                  .where(_days(first_day, last_day), u.conversation_id.is_not(None)))
        return int(n)

    def latencies(self, first_day: str, last_day: str) -> list[float]:
        """Latency (ms) of every answered call on those days (UTC)."""
        u = llm_usage.c
        rows = self._db.execute(select(u.latency_ms).where(_days(first_day, last_day), u.outcome == "answered"))
        return [float(r[0]) for r in rows]

    def close(self) -> None:
        if self._owns_db:
            self._db.close()
