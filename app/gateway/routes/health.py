"""`GET /health` and `GET /health/ready`: every component's status, checked with a timeout;
`GET /health/live`: whether this process serves at all, checking nothing else.

A liveness probe must not call the dependencies: a slow database would otherwise get
healthy replicas restarted. Readiness (take this replica out of the load balancer) does.

Overall status: `ok` when everything is up; `degraded` (still 200) when only the primary
vector store is down and the embedded replica answers in its place
(ENABLE_FALLBACK_SEARCH); `down` (503) when the service cannot answer.

Both routes are open (probes carry no keys), so the report is computed at most once every
HEALTH_CACHE_SECONDS and shared by concurrent callers, and only a caller with the `admin`
scope sees its details (provider, model, backends, counts, latencies); anyone else gets
the statuses alone.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from app.conversations.checkpointers import ping_checkpointer
from app.gateway.dependencies import ServicesDep
from app.llm import ping_model
from app.retrieval.backend import VectorStoreBackend
from app.services import Services

router = APIRouter(tags=["operations"])
CHECK_TIMEOUT_SECONDS = 2.0
HEALTH_CACHE_SECONDS = 5.0


async def _check(probe: Callable[[], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        details = await asyncio.wait_for(probe(), CHECK_TIMEOUT_SECONDS)
        status = "ok"
    except Exception as exc:  # the health report names the failure instead of raising it
        details, status = {"error": type(exc).__name__}, "down"
    return {"status": status, "latency_ms": round((time.perf_counter() - started) * 1000, 2), **details}


def _store_probe(store: VectorStoreBackend, backend: str) -> Callable[[], Awaitable[dict[str, Any]]]:
    async def probe() -> dict[str, Any]:
        def read() -> dict[str, Any]:
            details = store.ping()
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

    async def database() -> dict[str, Any]:  # API keys, ledgers, model registry
        await asyncio.to_thread(services.keys.ping)
        return {"backend": settings.ledger_url.split(":", 1)[0]}

    probes["database"] = database
    if settings.redis_url:
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


class ReportCache:
    """The last component report of one Services, reused for HEALTH_CACHE_SECONDS; callers that
    arrive while it is being computed await that same computation."""

    def __init__(self, services: Services):
        self.services = services
        self._task: asyncio.Task | None = None
        self._started = 0.0

    async def get(self) -> tuple[int, dict[str, Any]]:
        task = self._task
        if task is None or (task.done() and time.monotonic() - self._started >= HEALTH_CACHE_SECONDS):
            self._started = time.monotonic()
            self._task = task = asyncio.ensure_future(component_report(self.services))
        # shield: a caller that goes away must not cancel the computation the others await
        return await asyncio.shield(task)


async def cached_report(request: Request, services: Services) -> tuple[int, dict[str, Any]]:
    state = request.app.state
    cache = getattr(state, "health_cache", None)
    if cache is None or cache.services is not services:  # a new lifespan brings new services
        cache = state.health_cache = ReportCache(services)
    return await cache.get()


def _is_admin(request: Request) -> bool:
    # Set by the authentication middleware for a valid key or the local owner; absent: anonymous.
    principal = getattr(request.state, "principal", None)
    return principal is not None and principal.may("admin")


def _statuses_only(body: dict[str, Any]) -> dict[str, Any]:
    return {"status": body["status"],
            "components": {name: {"status": c["status"]} for name, c in body["components"].items()}}


@router.get("/health")
async def health(request: Request, services: ServicesDep) -> JSONResponse:
    code, body = await cached_report(request, services)
    return JSONResponse(body if _is_admin(request) else _statuses_only(body), status_code=code)


@router.get("/health/live")
async def live() -> JSONResponse:
    """Liveness: the process answers (its event loop runs); no dependency is called."""
    return JSONResponse({"status": "alive"})


@router.get("/health/ready")
async def ready(request: Request, services: ServicesDep) -> JSONResponse:
    """Readiness: can this replica answer now? Admins also see whether search has been failing over."""
    code, report = await cached_report(request, services)
    if not _is_admin(request):
        return JSONResponse({**_statuses_only(report), "ready": code == 200}, status_code=code)
    body = dict(report)  # the cached report is shared: add to a copy
    fallback = getattr(services.retriever, "health", None)
    if fallback is not None:
        body["fallback_search"] = {"recent_primary_failure": fallback.failing(), "fallbacks": fallback.fallbacks,
                                   "last_error": fallback.last_error}
    body["model_gate"] = services.gate.state()
    body["ready"] = code == 200
    return JSONResponse(body, status_code=code)
