"""LLM_RATE_LIMIT and LLM_MAX_QUEUE: pace model requests, and refuse at once when too many wait.

Every turn passes the gate: `admit` takes a place in the queue or raises `Overloaded` (the
gateway answers 503 with Retry-After at once, instead of letting requests pile up behind a
slow or rate-limited model); the ticket's `wait` then holds the turn until the rate allows
one more model request. `ModelGate` is the interface; `LocalModelGate` keeps the queue
and the rate in this process (aiolimiter's leaky bucket), so with N replicas the provider
sees up to N x LLM_RATE_LIMIT until a shared gate (Redis) implements the same interface.
"""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Protocol

from aiolimiter import AsyncLimiter

from app.observability import metrics


class Overloaded(RuntimeError):
    def __init__(self, retry_after: int):
        super().__init__(f"too many requests are waiting for the model; retry in {retry_after} s")
        self.retry_after = retry_after


class GateTicket(Protocol):
    """A turn's place in the queue: `wait` for its model slot; `release` gives the place up."""

    async def wait(self) -> None: ...

    def release(self) -> None: ...


class ModelGate(Protocol):
    async def admit(self) -> GateTicket:
        """A place in the queue, at once, or `Overloaded` when LLM_MAX_QUEUE turns wait already."""

    def state(self) -> dict[str, Any]:
        """The queue and rate, for /health/ready."""


class _LocalTicket:
    def __init__(self, gate: LocalModelGate):
        self._gate, self._queued, self._started = gate, True, time.perf_counter()

    async def wait(self) -> None:
        try:
            if self._gate.limiter is not None:
                await self._gate.limiter.acquire()
        finally:
            self.release()

    def release(self) -> None:
        if self._queued:
            self._queued = False
            self._gate.leave_queue(time.perf_counter() - self._started)


class LocalModelGate:
    """The queue and the rate of this process."""

    def __init__(self, rate: float | None, max_queue: int):
        self.rate = rate
        self.max_queue = max_queue
        # At most one request per 1/rate seconds, with no burst above one second's worth.
        self.limiter = AsyncLimiter(max(1.0, rate), max(1.0, rate) / rate) if rate else None
        self.waiting = 0
        self.admitted_total = 0
        self.rejected_total = 0
        self.waited_seconds_total = 0.0

    def retry_after(self) -> int:
        """Seconds until the queue has drained enough for one more turn."""
        return max(1, math.ceil((self.waiting + 1) / self.rate)) if self.rate else 1

    async def admit(self) -> _LocalTicket:
        return self.admit_now()

    def admit_now(self) -> _LocalTicket:
        """`admit`, for a caller that cannot await (and the shared gate's fallback)."""
        if self._queue_is_full():
            self.rejected_total += 1
            raise Overloaded(self.retry_after())
        self.waiting += 1
        self.admitted_total += 1
        metrics.QUEUE_DEPTH.inc()
        return _LocalTicket(self)

    def _queue_is_full(self) -> bool:
        """Whether LLM_MAX_QUEUE turns would wait behind this one. A turn counts from `admit`
        to the end of its `wait`, but those the rate lets start at once do not wait: two
        turns that arrive together at an idle gate with a queue of one are both admitted."""
        if self.limiter is None or self.waiting < self.max_queue:
            return False
        starting_now = self.waiting - self.max_queue + 1  # this turn and those admitted before it
        return starting_now > self.limiter.max_rate or not self.limiter.has_capacity(starting_now)

    def leave_queue(self, waited_seconds: float) -> None:
        self.waiting -= 1
        metrics.QUEUE_DEPTH.dec()
        self.waited_seconds_total += waited_seconds

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """Admit one turn (or raise `Overloaded`) and wait for its model slot: for callers that
        need no step between the two."""
        ticket = self.admit_now()
        try:
            await ticket.wait()
        finally:
            ticket.release()
        yield

    def state(self) -> dict[str, Any]:
        return {
            "rate_limit_per_second": self.rate,
            "max_queue": self.max_queue,
            "waiting": self.waiting,
            "admitted_total": self.admitted_total,
            "rejected_total": self.rejected_total,
            "mean_wait_seconds": round(self.waited_seconds_total / max(1, self.admitted_total), 4),
        }
