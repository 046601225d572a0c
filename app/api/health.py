"""`GET /health` and `GET /health/ready`: every component's status, checked with a timeout.

Overall status: `ok` when everything is up; `degraded` (still 200) when only the primary
vector store is down and the embedded replica answers in its place
(ENABLE_FALLBACK_SEARCH); `down` (503) when the service cannot answer.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from app.api.deps import get_services
from app.llm import ping_model
from app.memory import ping_checkpointer
from app.runtime import Services

router = APIRouter(tags=["operations"])
CHECK_TIMEOUT_SECONDS = 2.0


async def _check(probe: Callable[[], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        details = await asyncio.wait_for(probe(), CHECK_TIMEOUT_SECONDS)
        status = "ok"
    except Exception as exc:  # the health report names the failure instead of raising it
        details, status = {"error": type(exc).__name__}, "down"
    return {"status": status, "latency_ms": round((time.perf_counter() - started) * 1000, 2), **details}


def _store_probe(store: Any, backend: str) -> Callable[[], Awaitable[dict[str, Any]]]:
    async def probe() -> dict[str, Any]:
        def read() -> dict[str, Any]:
            details = store.ping() if hasattr(store, "ping") else {}
            stats = store.stats()
            return {"backend": backend, "chunks": stats["chunks"], "documents": stats["documents"], **details}

        return await asyncio.to_thread(read)

    return probe


async def component_report(services: Services) -> tuple[int, dict[str, Any]]:
    settings = services.settings

    async def model() -> dict[str, Any]:
        await ping_model(services.models)
        return {"provider": services.models.provider, "model": services.models.model_name,
                "fallbacks": services.models.chain_names[1:]}

    async def checkpointer() -> dict[str, Any]:
        await ping_checkpointer(services.checkpointer)
        return {"backend": settings.checkpoint_url.split(":", 1)[0]}

    probes = {
        "model": model,
        "vector_store": _store_probe(services.store, settings.vector_store),
        "checkpointer": checkpointer,
    }
    if services.replica is not None:
        probes["vector_store_replica"] = _store_probe(services.replica, "embedded")
    if services.keys is not None:
        async def database() -> dict[str, Any]:  # API keys, ledgers, model registry
            await asyncio.to_thread(services.keys.ping)
            return {"backend": settings.ledger_url.split(":", 1)[0]}

        probes["database"] = database
    if settings.redis_url and services.rate_limits is not None:
        async def redis() -> dict[str, Any]:  # shared limits and response cache
            if not await services.rate_limits.ping():
                raise ConnectionError("redis did not answer")
            return {}

        probes["redis"] = redis
    components = dict(zip(probes, await asyncio.gather(*(_check(p) for p in probes.values()))))
    down = {name for name, c in components.items() if c["status"] != "ok"}
    # Without Redis, limits let requests through and the cache misses; without the primary
    # store, the replica answers: both degrade the service rather than stop it.
    tolerable = {"redis"} | ({"vector_store"} if services.replica is not None else set())
    if not down:
        status = "ok"
    elif down <= tolerable:
        status = "degraded"
    else:
        status = "down"
    return (503 if status == "down" else 200), {"status": status, "components": components}


@router.get("/health")
async def health(services: Annotated[Services, Depends(get_services)]) -> JSONResponse:
    code, body = await component_report(services)
    return JSONResponse(body, status_code=code)


@router.get("/health/ready")
async def ready(services: Annotated[Services, Depends(get_services)]) -> JSONResponse:
    """Readiness: can this replica answer now? Also says whether search has been failing over."""
    code, body = await component_report(services)
    fallback = getattr(services.dependencies.retriever, "health", None)
    if fallback is not None:
        body["fallback_search"] = {"recent_primary_failure": fallback.failing(), "fallbacks": fallback.fallbacks,
                                   "last_error": fallback.last_error}
    if services.gate is not None:
        body["model_gate"] = services.gate.state()
    body["ready"] = code == 200
    return JSONResponse(body, status_code=code)
