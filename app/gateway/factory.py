"""The gateway: `create_app` builds the FastAPI app (uvicorn's factory; `app.main:app` is one made at import)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from app.errors import install_error_handlers
from app.gateway.authentication import Authenticate
from app.gateway.body_limit import BodySizeLimit
from app.gateway.origin import SameOriginPolicy
from app.gateway.request_log import ObserveRequests
from app.gateway.routes import admin, chat, conversations, feedback, health, metrics
from app.gateway.routes.langserve import publish_graph
from app.observability.logs import configure_logging
from app.observability.tracing import tracing_enabled
from app.services import Services, open_services
from app.settings import Settings, load_settings

log = logging.getLogger("chatbot")


def create_app(
    settings: Settings | None = None,
    services_factory: Callable[[Settings], AbstractAsyncContextManager[Services]] = open_services,
) -> FastAPI:
    """The gateway; `services_factory` lets a benchmark swap in other parts."""
    settings = settings or load_settings()
    configure_logging(settings.log_file, settings.log_level)
    tracing = tracing_enabled(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with services_factory(settings) as services:
            app.state.services = services
            publish_graph(app, services)
            try:
                chunks: int | str = await asyncio.to_thread(services.store.count)
            except Exception as exc:  # start anyway: /health says what is down, and it may come back
                chunks = f"unreachable ({type(exc).__name__})"
                log.error("vector store %s is unreachable at start-up", settings.vector_store)
            log.info(
                "chatbot ready: provider=%s vector_store=%s chunks=%s checkpoints=%s",
                settings.llm_provider, settings.vector_store, chunks, settings.checkpoint_url.split(":", 1)[0],
            )
            log.info("LangSmith tracing: %s", "on (LANGSMITH_API_KEY is set)" if tracing else "off")
            if await asyncio.to_thread(services.keys.keys_configured):
                log.info("auth: API keys required on every route but /health (per key: %d requests/min, "
                         "%d tokens/day%s)", settings.rate_limit_per_minute, settings.token_limit_per_day,
                         ", shared through Redis" if settings.redis_url else "")
            else:
                log.warning("auth: local-only mode: no API key is configured; only clients on this machine "
                            "(loopback) are served, as the local owner (create a key with "
                            "`chatbot keys create --owner NAME` to open the service to a network)")
            yield

    app = FastAPI(
        title="Chatbot service",
        version="0.1.0",
        description="RAG chatbot: answers from the knowledge base with citations.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.include_router(chat.router)
    app.include_router(conversations.router)
    app.include_router(feedback.router)
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.include_router(admin.router)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_request_bytes)
    app.add_middleware(Authenticate)
    app.add_middleware(SameOriginPolicy, allowed_origins=settings.origins)
    if settings.origins:  # CORS is off unless origins are configured
        app.add_middleware(CORSMiddleware, allow_origins=sorted(settings.origins), allow_credentials=False,
                           allow_methods=["GET", "POST", "DELETE"],
                           allow_headers=["Authorization", "Content-Type", "X-API-Key"])
    app.add_middleware(ObserveRequests)  # added last: runs first, so it sees every request and status
    return app
