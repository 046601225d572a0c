"""The OpenAI-compatible API: `GET /v1/models` and `POST /v1/chat/completions`.

Any OpenAI client (the `openai` SDK, LangChain's `ChatOpenAI`, Open WebUI, Continue) talks
to the service with `base_url=http://HOST:8000/v1` and an API key of the service as its
`api_key` (in local-only mode, any placeholder from this machine). A completion is a turn
like any other (app/chat/turn.py): the same admission, model gate, per-key limits, token
budget, guardrails and graph. Without `conversation_id` the request's messages are the
conversation (app/chat/client_history.py) and nothing is stored; with one, the caller's
stored conversation continues from its checkpoint, and the messages sent before the last
are not read (the checkpoint has the conversation).
"""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter, Request
from sse_starlette import EventSourceResponse

from app.chat.client_history import client_turn
from app.chat.events import FinalEvent
from app.chat.turn import Turn
from app.errors import ErrorCode, ServiceError
from app.gateway.dependencies import ChatCaller, ChatDep, ServicesDep, spend_tokens
from app.gateway.openai_api.completions import CompletionWriter
from app.gateway.openai_api.schemas import SERVED_MODEL, ChatCompletion, CompletionRequest, Model, ModelList
from app.gateway.openapi import openai_errors
from app.safety.pii import redact

router = APIRouter(prefix="/v1", tags=["openai"])
log = logging.getLogger("chatbot.openai")
STREAMED = {"description": "with `stream: true`: `chat.completion.chunk` objects as Server-Sent Events "
                           "(`data: {...}`), then `data: [DONE]`",
            "content": {"text/event-stream": {"schema": {"type": "string"}}}}


@router.get("/models", response_model=ModelList, responses=openai_errors(401, 403, 429))
async def list_models(_caller: ChatCaller, services: ServicesDep) -> ModelList:
    """What `model` a completion may name: the service's RAG graph, and the chat model behind it."""
    settings = services.settings
    return ModelList(data=[Model(id=SERVED_MODEL, created=0, owned_by="chatbot", provider=settings.llm_provider,
                                 description="answers from the knowledge base, with [n] citations")])


@router.post("/chat/completions", response_model=ChatCompletion,
             responses={200: STREAMED, **openai_errors(400, 401, 403, 404, 409, 413, 429, 503)})
async def create_chat_completion(body: CompletionRequest, request: Request, caller: ChatCaller, chat: ChatDep,
                                 services: ServicesDep) -> ChatCompletion | EventSourceResponse:
    """A chat completion, whole or streamed (`stream: true`), with the shapes of OpenAI's API."""
    body.check_supported()
    messages = body.client_messages()
    if body.user:
        request.state.end_user = redact(body.user)[0]  # on the request's log line
    conversation_id = body.stored_conversation()
    if conversation_id is not None:
        if await asyncio.to_thread(services.conversations.get, conversation_id, caller.owner) is None:
            raise ServiceError(ErrorCode.CONVERSATION_NOT_FOUND, details={"param": "conversation_id"},
                               conversation_id=conversation_id)
        turn = Turn.ask(caller, messages[-1].text, conversation_id)
    else:
        asked = await client_turn(services.guard, messages)
        turn = Turn.one_shot(caller, asked.question, asked.history)
    stream = await chat.open(turn)  # refusals: an OpenAI-shaped error with their status
    writer = CompletionWriter(SERVED_MODEL, conversation_id)
    if not body.stream:
        response = await stream.collect()
        await spend_tokens(services, caller, response.usage.total_tokens)
        return writer.whole(response)

    async def spend(final: FinalEvent) -> None:
        await spend_tokens(services, caller, final.usage.total_tokens)

    include_usage = bool(body.stream_options and body.stream_options.include_usage)
    return EventSourceResponse(writer.chunks(stream, include_usage, spend), ping=15, sep="\n")
