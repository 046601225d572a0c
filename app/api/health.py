"""`GET /health`: each component's status; 503 when one is down."""

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


@router.get("/health")
async def health(services: Annotated[Services, Depends(get_services)]) -> JSONResponse:
    models = services.models

    async def model() -> dict[str, Any]:
        await ping_model(models)
        return {"provider": models.provider, "model": services.settings.llm_model}

    async def vector_store() -> dict[str, Any]:
        stats = await asyncio.to_thread(services.store.stats)
        return {"backend": services.settings.vector_store, "chunks": stats["chunks"], "documents": stats["documents"]}

    async def checkpointer() -> dict[str, Any]:
        await ping_checkpointer(services.checkpointer)
        return {"backend": services.settings.checkpoint_url.split(":", 1)[0]}

    components = dict(
        zip(
            ("model", "vector_store", "checkpointer"),
            await asyncio.gather(_check(model), _check(vector_store), _check(checkpointer)),
        )
    )
    healthy = all(c["status"] == "ok" for c in components.values())
    body = {"status": "ok" if healthy else "down", "components": components}
    return JSONResponse(body, status_code=200 if healthy else 503)
