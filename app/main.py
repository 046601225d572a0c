"""The ASGI app: `uvicorn app.main:app --host 0.0.0.0 --port 8000` (or `chatbot serve`)."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from langserve import add_routes

from app.api import admin, chat, conversations, feedback, health, metrics
from app.api.deps import principal_of
from app.conversation import (
    approval_pending_error,
    claim_conversation,
    new_conversation_id,
    pending_approval,
)
from app.errors import ApiError, install_error_handlers
from app.limits import BodySizeLimit
from app.middleware import Authenticate
from app.observability import ObserveRequests, configure_logging, configure_tracing
from app.runtime import Services, open_services
from app.schemas import CONVERSATION_ID_PATTERN
from app.settings import Settings, load_settings

log = logging.getLogger("chatbot")


async def _langserve_config(config: dict[str, Any], request: Request) -> dict[str, Any]:
    """Every LangServe run is one turn of a conversation: the thread the client names, or a new one.

    LangServe drops configurable keys the graph does not declare (thread_id is one), so
    the client's `config.configurable.thread_id` is read from the body itself. The input
    must be one human message, as on `/chat`: earlier turns come from the checkpoint, never
    from the client (a made-up history would go around `guard_input`), and a conversation
    waiting for an approval takes no new message.
    """
    try:
        body = await request.json()
        thread_id = body.get("config", {}).get("configurable", {}).get("thread_id")
        messages = body.get("input", {}).get("messages")
    except (ValueError, AttributeError):
        thread_id, messages = None, None
    if not (isinstance(messages, list) and len(messages) == 1 and isinstance(messages[0], dict)
            and (messages[0].get("type") == "human" or messages[0].get("role") == "user")
            and isinstance(messages[0].get("content"), str)):
        raise ApiError(422, "validation_error", "input.messages must be exactly one human message")
    if not (isinstance(thread_id, str) and re.fullmatch(CONVERSATION_ID_PATTERN, thread_id)):
        thread_id = new_conversation_id()
    services = request.app.state.services
    principal = principal_of(request)
    if not await claim_conversation(services.conversations, thread_id, principal.owner):
        if pending := await pending_approval(services.graph, thread_id):
            raise approval_pending_error(pending)
    configurable = config.setdefault("configurable", {})
    configurable["thread_id"] = thread_id
    configurable["scopes"] = sorted(principal.scopes)
    return config


def publish_graph(app: FastAPI, services: Services) -> None:
    """LangServe's routes for the compiled graph (once per app: the graph never changes)."""
    if getattr(app.state, "graph_published", False):
        return
    add_routes(
        app,
        services.graph,
        path="/graph",
        per_req_config_modifier=_langserve_config,
        # No batch: several inputs on one conversation would run at once.
        enabled_endpoints=("invoke", "stream", "stream_log", "stream_events",
                           "playground", "input_schema", "output_schema", "config_schema"),
    )
    app.state.graph_published = True


def create_app(
    settings: Settings | None = None,
    services_factory: Callable[[Settings], AbstractAsyncContextManager[Services]] = open_services,
) -> FastAPI:
    """The gateway; `services_factory` lets a benchmark swap in other parts."""
    settings = settings or load_settings()
    configure_logging(settings.log_file, settings.log_level)
    tracing = configure_tracing()

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
                log.warning("auth: local-only mode: no API keys are configured, every caller is the local owner "
                            "(create one with `chatbot keys create --owner NAME`)")
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
    app.add_middleware(ObserveRequests)  # added last: runs first, so it sees every request and status
    return app


def __getattr__(name: str) -> Any:
    # `app` is created when uvicorn asks for it, so importing this module reads no settings.
    if name == "app":
        globals()["app"] = create_app()
        return globals()["app"]
    raise AttributeError(name)
