"""LLM_RATE_LIMIT and LLM_MAX_QUEUE: pace model requests, and refuse at once when too many wait.

Every turn passes the gate before it runs: `admit` takes a place in the queue or raises
`Overloaded` (the gateway answers 503 with Retry-After, at once, instead of letting
requests pile up behind a slow or rate-limited model); `wait` then holds the turn until
the rate allows one more model request (aiolimiter's leaky bucket). The gate is per
process: with N replicas the provider sees up to N x LLM_RATE_LIMIT.
"""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiolimiter import AsyncLimiter

from app.observability import metrics


class Overloaded(RuntimeError):
    def __init__(self, retry_after: int):
        super().__init__(f"too many requests are waiting for the model; retry in {retry_after} s")
        self.retry_after = retry_after


class ModelGate:
    def __init__(self, rate: float | None, max_queue: int):
        self.rate = rate
        self.max_queue = max_queue
        # At most one request per 1/rate seconds, with no burst above one second's worth.
        self._limiter = AsyncLimiter(max(1.0, rate), max(1.0, rate) / rate) if rate else None
        self.waiting = 0
        self.admitted_total = 0
        self.rejected_total = 0
        self.waited_seconds_total = 0.0

    def retry_after(self) -> int:
        """Seconds until the queue has drained enough for one more turn."""
        return max(1, math.ceil((self.waiting + 1) / self.rate)) if self.rate else 1

    def check(self) -> None:
        """Raise `Overloaded` if a turn arriving now would not be admitted (before a stream starts)."""
        if self.waiting >= self.max_queue:
            self.rejected_total += 1
            raise Overloaded(self.retry_after())

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """Admit one turn (or raise `Overloaded`), then wait for its model slot."""
        self.check()
        self.waiting += 1
        metrics.QUEUE_DEPTH.inc()
        self.admitted_total += 1
        started = time.perf_counter()
        try:
            if self._limiter is not None:
                await self._limiter.acquire()
        finally:
            self.waiting -= 1
            metrics.QUEUE_DEPTH.dec()
            self.waited_seconds_total += time.perf_counter() - started
        yield

    def state(self) -> dict:
        return {
            "rate_limit_per_second": self.rate,
            "max_queue": self.max_queue,
            "waiting": self.waiting,
            "admitted_total": self.admitted_total,
            "rejected_total": self.rejected_total,
            "mean_wait_seconds": round(self.waited_seconds_total / max(1, self.admitted_total), 4),
        }
