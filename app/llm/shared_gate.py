"""LLM_RATE_LIMIT and LLM_MAX_QUEUE for the whole deployment: the model gate kept in Redis.

Every replica admits turns through one schedule in Redis (GCRA: a "theoretical arrival
time" key, advanced by 1/rate per admitted turn, computed by a Lua script on Redis's own
clock so that replicas' clocks do not matter). Admission reserves the turn's start time at
once: a turn that would be the (LLM_MAX_QUEUE + 1)th to wait is refused with
`Overloaded` and a retry hint, as the per-process gate does; an admitted turn sleeps until
its reserved slot. The burst is the per-process gate's: up to one second's worth
(max(1, rate)) may start at once. A turn that gives up its place before its slot leaves the
slot unused (the provider sees fewer requests, never more).

When Redis cannot be reached the gate says so in the log and `state()`, and admits through
the per-process gate until Redis answers again: with N replicas the provider then sees up to
N x LLM_RATE_LIMIT, rather than every turn failing.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from typing import Any

from app.llm.gate import GateTicket, LocalModelGate, Overloaded
from app.observability import metrics

log = logging.getLogger("chatbot.gate")

# KEYS[1]: the schedule; ARGV: emission interval (s), burst tolerance (s), LLM_MAX_QUEUE.
# Returns {admitted (0/1), seconds to wait (string: Lua numbers would be truncated)}.
_RESERVE = """
local interval, tolerance, max_queue = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local start = tat - tolerance
if start < now then start = now end
local wait = start - now
if math.ceil(wait / interval - 1e-9) > max_queue then
  return {0, tostring(wait)}
end
local next_tat = tat + interval
redis.call('SET', KEYS[1], tostring(next_tat), 'PX', math.ceil((next_tat - now) * 1000) + 1000)
return {1, tostring(wait)}
"""


class _ReservedTicket:
    """A turn whose model slot is reserved `delay` seconds after admission."""

    def __init__(self, gate: RedisModelGate, delay: float):
        self._gate, self._due = gate, time.monotonic() + delay

    async def wait(self) -> None:
        started = time.monotonic()
        await asyncio.sleep(max(0.0, self._due - started))
        self._gate.waited_seconds_total += time.monotonic() - started

    def release(self) -> None:  # a reserved slot is not given back (see the module's docstring)
        pass


class RedisModelGate:
    """The model gate of every replica that shares REDIS_URL."""

    def __init__(self, client: Any, rate: float, max_queue: int, key: str = "chatbot:model-gate"):
        self._client, self._key = client, key
        self.rate, self.max_queue = rate, max_queue
        self.interval = 1.0 / rate
        self.tolerance = (max(1.0, rate) - 1.0) * self.interval  # a burst of one second's worth
        self._reserve = client.register_script(_RESERVE)
        self.fallback = LocalModelGate(rate, max_queue)
        self.redis_failures = 0
        self.admitted_total = self.rejected_total = 0
        self.waited_seconds_total = 0.0

    async def admit(self) -> GateTicket:
        try:
            admitted, wait = await self._reserve(keys=[self._key],
                                                 args=[self.interval, self.tolerance, self.max_queue])
        except Exception as exc:  # Redis is down: each replica paces its own turns meanwhile
            self.redis_failures += 1
            metrics.GATE_FALLBACKS.inc()
            log.warning("model gate: Redis cannot be reached (%s); this replica paces its turns alone",
                        type(exc).__name__)
            return self.fallback.admit_now()
        wait = float(wait)
        if not int(admitted):
            self.rejected_total += 1
            raise Overloaded(max(1, math.ceil(wait - self.max_queue * self.interval)))  # until it would be admitted
        self.admitted_total += 1
        return _ReservedTicket(self, wait)

    def state(self) -> dict[str, Any]:
        return {
            "shared": "redis",
            "rate_limit_per_second": self.rate,
            "max_queue": self.max_queue,
            "admitted_total": self.admitted_total,
            "rejected_total": self.rejected_total,
            "mean_wait_seconds": round(self.waited_seconds_total / max(1, self.admitted_total), 4),
            "redis_failures": self.redis_failures,
            "fallback": self.fallback.state(),
        }
