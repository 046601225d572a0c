"""The model gate under a burst: 200 concurrent turns against a model limited to 5 rps.

The real gate (`app.llm.gate.ModelGate`, aiolimiter's leaky bucket) with the default
queue (LLM_MAX_QUEUE=64) and a model call of 300 ms: what share is answered, what share
is refused with 503 (and how fast the refusal comes), and how long the answered waited.
"""

from __future__ import annotations

import asyncio
import time

from bench.common import percentiles

REQUESTS = 200
RATE = 5.0
MAX_QUEUE = 64
MODEL_SECONDS = 0.3


async def _burst() -> dict:
    from app.llm.gate import ModelGate, Overloaded

    gate = ModelGate(RATE, MAX_QUEUE)
    waits, refusals = [], []

    async def one() -> None:
        started = time.perf_counter()
        try:
            async with gate.turn():
                waits.append((time.perf_counter() - started) * 1000)
                await asyncio.sleep(MODEL_SECONDS)
        except Overloaded:
            refusals.append((time.perf_counter() - started) * 1000)

    started = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(REQUESTS)))
    return {
        "requests": REQUESTS,
        "rate_limit_per_second": RATE,
        "max_queue": MAX_QUEUE,
        "answered_share": round(len(waits) / REQUESTS, 3),
        "rejected_503_share": round(len(refusals) / REQUESTS, 3),
        "wait_of_answered": percentiles(waits),
        "time_to_503": percentiles(refusals) if refusals else None,
        "burst_seconds": round(time.perf_counter() - started, 2),
    }


def run() -> dict:
    return asyncio.run(_burst())
