"""`/graph/*`: LangServe's endpoints (invoke, stream, stream_log, stream_events, playground)
for one chat turn, on the same turn code as `/chat`.

LangServe publishes a runnable; publishing the compiled graph itself would let a client
skip what every other transport does (the model gate, the per-conversation lock, the
token budget), send a made-up history, and read the whole state back, the unredacted
draft and every retrieved passage included. So the published runnable is the turn:
its input is one human message (the server builds the message from its text), its output
the public `ChatResponse`, and its stream the turn's events (`token`, `sources`, `final`, ...).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any, Literal

from fastapi import FastAPI, Request
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.config import var_child_runnable_config
from langserve import add_routes
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from app.chat.turn import (
    Turn,
    approval_pending_error,
    check_message,
    claim_conversation,
    new_conversation_id,
    overloaded_error,
    pending_approval,
    run_turn,
    stream_turn,
)
from app.errors import ApiError
from app.gateway.dependencies import principal_of
from app.gateway.schemas import CONVERSATION_ID_PATTERN, ChatRequest, ChatResponse
from app.llm.gate import Overloaded
from app.services import Services


class HumanInput(BaseModel):
    """The user's message; any other message type is refused (422)."""

    model_config = ConfigDict(extra="ignore")
    type: Literal["human"] = "human"
    content: str = Field(min_length=1)


class GraphInput(BaseModel):
    """Exactly one new human message: earlier turns come from the checkpoint, never from the client."""

    messages: list[HumanInput] = Field(min_length=1, max_length=1)


def _message_text(turn_input: Any) -> str:
    messages = turn_input["messages"] if isinstance(turn_input, dict) else turn_input.messages
    message = messages[0]
    return message["content"] if isinstance(message, dict) else message.content


def _detach_from_this_run() -> None:
    """The graph must not report to this run's callbacks: LangServe's stream_events and
    stream_log would carry its inner events (the unredacted draft, every retrieved
    passage). Each LangServe call runs in its own copy of the context, so this clears the
    inherited run config for the turn only."""
    var_child_runnable_config.set(None)


class ChatTurn(Runnable[GraphInput, dict[str, Any]]):
    """One turn of the conversation that the request's config names (set server-side)."""

    def __init__(self, services: Services):
        self.services = services

    @property
    def InputType(self) -> type[GraphInput]:  # noqa: N802 (the Runnable interface)
        return GraphInput

    @property
    def OutputType(self) -> type[ChatResponse]:  # noqa: N802
        return ChatResponse

    def get_input_schema(self, config: RunnableConfig | None = None) -> type[BaseModel]:
        return GraphInput

    def get_output_schema(self, config: RunnableConfig | None = None) -> type[BaseModel]:
        return ChatResponse

    def _turn(self, turn_input: Any, config: RunnableConfig | None) -> Turn:
        configurable = (config or {}).get("configurable", {})
        if "thread_id" not in configurable or "owner" not in configurable:
            raise ApiError(401, "unauthorized", "the request was not authenticated")
        message = _message_text(turn_input)
        check_message(ChatRequest(message=message), self.services.settings.max_message_chars)
        return Turn(configurable["thread_id"], message, configurable["owner"], new=configurable.get("new", False),
                    scopes=frozenset(configurable.get("scopes", ())))

    async def _spend(self, config: RunnableConfig | None, tokens: int) -> None:
        key_prefix = (config or {}).get("configurable", {}).get("key_prefix")
        if key_prefix and self.services.rate_limits is not None:
            await self.services.rate_limits.spend_tokens(key_prefix, tokens)

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> dict[str, Any]:
        raise NotImplementedError("a chat turn runs asynchronously: use ainvoke")

    async def _answer(self, turn_input: Any, config: RunnableConfig) -> dict[str, Any]:
        _detach_from_this_run()
        services = self.services
        response = await run_turn(services.graph, self._turn(turn_input, config), services.gate,
                                  services.conversations)
        await self._spend(config, response.usage.total_tokens)
        return response.model_dump()

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> dict[str, Any]:
        return await self._acall_with_config(self._answer, input, config)

    async def _events(self, inputs: AsyncIterator[Any], config: RunnableConfig) -> AsyncIterator[dict[str, Any]]:
        received = [item async for item in inputs]  # one input: the turn's message
        turn_input = received[-1] if received else None
        _detach_from_this_run()
        services = self.services
        async for event in stream_turn(services.graph, self._turn(turn_input, config), services.gate,
                                       services.conversations):
            if event.event == "final":
                await self._spend(config, event.data["usage"]["total_tokens"])
            yield {"event": event.event, "data": event.data}

    async def astream(self, input: Any, config: RunnableConfig | None = None,
                      **kwargs: Any) -> AsyncIterator[dict[str, Any]]:
        async def one() -> AsyncIterator[Any]:
            yield input

        async for chunk in self._atransform_stream_with_config(one(), self._events, config):
            yield chunk


async def _turn_config(config: dict[str, Any], request: Request) -> dict[str, Any]:
    """Every LangServe run is one turn of a conversation: the thread the client names, or a new one.

    LangServe drops configurable keys the runnable does not declare, so the client's
    `config.configurable.thread_id` is read from the body itself; who calls, with which
    scopes, is set here from the authenticated principal, never from the client.
    """
    try:
        body = await request.json()
        thread_id = body.get("config", {}).get("configurable", {}).get("thread_id")
        turn_input = body.get("input")
    except (ValueError, AttributeError):
        thread_id, turn_input = None, None
    try:  # before anything is claimed: LangServe validates the input only after this
        GraphInput.model_validate(turn_input)
    except ValidationError:
        raise ApiError(422, "validation_error", "input.messages must be exactly one human message") from None
    if not (isinstance(thread_id, str) and re.fullmatch(CONVERSATION_ID_PATTERN, thread_id)):
        thread_id = new_conversation_id()
    services: Services = request.app.state.services
    principal = principal_of(request)
    try:
        if services.gate is not None:
            services.gate.check()  # while a status code can still be sent
    except Overloaded as exc:
        raise overloaded_error(exc) from None
    new = await claim_conversation(services.conversations, thread_id, principal.owner)
    if not new and (pending := await pending_approval(services.graph, thread_id)):
        raise approval_pending_error(pending)
    config["configurable"] = {"thread_id": thread_id, "owner": principal.owner, "new": new,
                              "scopes": sorted(principal.scopes), "key_prefix": principal.key_prefix}
    return config


def publish_graph(app: FastAPI, services: Services) -> None:
    """LangServe's routes for the chat turn (once per app)."""
    if getattr(app.state, "graph_published", False):
        return
    add_routes(
        app,
        ChatTurn(services),
        path="/graph",
        per_req_config_modifier=_turn_config,
        # No batch: several inputs on one conversation would run at once.
        enabled_endpoints=("invoke", "stream", "stream_log", "stream_events",
                           "playground", "input_schema", "output_schema", "config_schema"),
    )
    app.state.graph_published = True
