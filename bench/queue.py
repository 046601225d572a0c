"""The model gate under a burst: 200 concurrent turns against a model limited to 5 rps.

`gate`: the real gate (`app.llm.gate.ModelGate`, aiolimiter's leaky bucket) alone, with
the default queue (LLM_MAX_QUEUE=64) and a model call of 300 ms: what share is answered,
what share is refused with 503 (and how fast the refusal comes), how long the answered waited.

`gateway`: the same burst as 200 concurrent `POST /chat` requests to the service in its
own process (LLM_RATE_LIMIT=5, the extractive provider so that the gate, not the model,
is the limit): the statuses, the `Retry-After` of the 503s, and the answered requests'
whole latency.
"""

from __future__ import annotations

import asyncio
import time

import httpx

from bench.common import console, indexed_data_dir, percentiles, running_service

REQUESTS = 200
RATE = 5.0
MAX_QUEUE = 64
MODEL_SECONDS = 0.3


async def _burst() -> dict:
    from app.llm.gate import LocalModelGate, Overloaded

    gate = LocalModelGate(RATE, MAX_QUEUE)
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


async def _http_burst(base: str) -> dict:
    latencies, refusals, retry_after, other = [], [], set(), {}

    async def one(client: httpx.AsyncClient, n: int) -> None:
        started = time.perf_counter()
        # A question of its own each: no request is answered by another's work.
        response = await client.post("/chat", json={"message": f"How often do backups run? ({n})"})
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code == 200:
            latencies.append(elapsed)
        elif response.status_code == 503:
            refusals.append(elapsed)
            retry_after.add(response.headers.get("retry-after"))
        else:
            other[response.status_code] = other.get(response.status_code, 0) + 1

    limits = httpx.Limits(max_connections=REQUESTS, max_keepalive_connections=REQUESTS)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=120) as client:
        await client.post("/chat", json={"message": "warm up"})
        await asyncio.sleep(1.0)  # let the bucket drain the warm-up
        started = time.perf_counter()
        await asyncio.gather(*(one(client, n) for n in range(REQUESTS)))
    return {
        "requests": REQUESTS,
        "answered_share": round(len(latencies) / REQUESTS, 3),
        "rejected_503_share": round(len(refusals) / REQUESTS, 3),
        "other_statuses": other,
        "latency_of_answered": percentiles(latencies),
        "time_to_503": percentiles(refusals) if refusals else None,
        "retry_after_headers": sorted(v for v in retry_after if v),
        "burst_seconds": round(time.perf_counter() - started, 2),
    }


def _through_gateway() -> dict:
    env = {"DATA_DIR": str(indexed_data_dir()), "LLM_PROVIDER": "extractive", "LLM_RATE_LIMIT": str(RATE),
           "LLM_MAX_QUEUE": str(MAX_QUEUE)}
    console.print("queue: 200 concurrent requests through the gateway")
    with running_service("app.main:app", env) as base:
        return asyncio.run(_http_burst(base))


def run() -> dict:
    return {"gate": asyncio.run(_burst()), "gateway": _through_gateway()}
