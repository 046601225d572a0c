"""The gateway: `create_app` builds the FastAPI app (uvicorn's factory; `app.main:app` is one made at import).

The app runs on one `Chatbot` (app/chatbot.py), opened by its lifespan: the routes reach it
through the dependencies of app/gateway/dependencies.py. Middleware, outermost first:
the request log and metrics, OpenAI's error shape on /v1/*, CORS (only with
ALLOWED_ORIGINS), the same-origin policy, authentication, the body limit.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from app.chatbot import Chatbot
from app.gateway.authentication import Authenticate, Authenticator
from app.gateway.body_limit import BodySizeLimit
from app.gateway.error_handlers import install_error_handlers
from app.gateway.openai_api.errors import OpenAIErrors
from app.gateway.openapi import describe_errors
from app.gateway.origin import SameOriginPolicy
from app.gateway.request_log import ObserveRequests
from app.gateway.routes import (
    admin,
    chat,
    completions,
    conversations,
    feedback,
    health,
    page,
    prometheus,
    sources,
    websocket,
)
from app.gateway.routes.langserve import publish_turns
from app.observability.logs import configure_logging
from app.settings import ConfigurationError, Settings, load_settings

log = logging.getLogger("chatbot")
ChatbotFactory = Callable[[Settings], AbstractAsyncContextManager[Chatbot]]


async def _announce(bot: Chatbot) -> None:
    settings = bot.settings
    try:
        chunks: int | str = await asyncio.to_thread(bot.services.store.count)
    except Exception as exc:  # start anyway: /health says what is down, and it may come back
        chunks = f"unreachable ({type(exc).__name__})"
        log.error("vector store %s is unreachable at start-up", settings.vector_store)
    log.info("chatbot ready: provider=%s vector_store=%s chunks=%s checkpoints=%s",
             settings.llm_provider, settings.vector_store, chunks, settings.checkpoint_url.split(":", 1)[0])
    log.info("LangSmith tracing: %s", "on (LANGSMITH_API_KEY is set)" if bot.services.tracing else "off")
    if await asyncio.to_thread(bot.services.keys.keys_configured):
        log.info("auth: API keys required on every route but /health (per key: %d requests/min, "
                 "%d tokens/day%s)", settings.rate_limit_per_minute, settings.token_limit_per_day,
                 ", shared through Redis" if settings.redis_url else "")
    else:
        log.warning("auth: local-only mode: no API key is configured; only clients on this machine "
                    "(loopback) are served, as the local owner (create a key with "
                    "`chatbot keys create --owner NAME` to open the service to a network)")


def create_app(settings: Settings | None = None, chatbot_factory: ChatbotFactory = Chatbot.open) -> FastAPI:
    """The gateway; `chatbot_factory` lets a benchmark swap in other parts."""
    settings = settings or load_settings()
    configure_logging(settings.log_file, settings.log_level)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            try:
                bot = await stack.enter_async_context(chatbot_factory(settings))
            except ConfigurationError as exc:  # a bad setting, a database that needs `chatbot db upgrade`
                log.error("the service cannot start: %s", exc)
                raise
            app.state.chatbot = bot
            app.state.authenticator = Authenticator(bot.services.keys, bot.services.rate_limits)
            await _announce(bot)
            yield

    app = FastAPI(title="Chatbot service", version="0.1.0", lifespan=lifespan,
                  description="RAG chatbot: answers from the knowledge base with citations.")
    install_error_handlers(app)
    for routes in (page, chat, websocket, conversations, sources, feedback, health, prometheus, admin, completions):
        app.include_router(routes.router)
    app.mount("/static", page.PageFiles(), name="static")
    publish_turns(app)
    describe_errors(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_request_bytes)
    app.add_middleware(Authenticate)
    app.add_middleware(SameOriginPolicy, allowed_origins=settings.origins)
    if settings.origins:  # CORS is off unless origins are configured
        app.add_middleware(CORSMiddleware, allow_origins=sorted(settings.origins), allow_credentials=False,
                           allow_methods=["GET", "POST", "PATCH", "DELETE"],
                           allow_headers=["Authorization", "Content-Type", "X-API-Key"])
    app.add_middleware(OpenAIErrors)  # errors on /v1/* in OpenAI's shape, whichever layer answered
    app.add_middleware(ObserveRequests)  # added last: runs first, so it sees every request and status
    return app
