"""`/graph/*`: LangServe's endpoints (invoke, stream, stream_log, stream_events, playground)
for one chat turn, on the same turn code as `/chat`.

LangServe publishes a runnable; publishing the compiled graph itself would let a client
skip what every other transport does (the model gate, the per-conversation lock, the
token budget), send a made-up history, and read the whole state back, the unredacted
draft and every retrieved passage included. So the published runnable is the turn:
its input is one human message (the server builds the message from its text), its output
the public `ChatResponse`, and its stream the turn's events (`token`, `sources`, `final`, ...).
The turn is admitted before LangServe answers (`_admit`, its per-request config hook), so
a refusal has its status; the runnable then reads the admitted turn's events.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any, Literal

from fastapi import Depends, FastAPI, Request
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.config import var_child_runnable_config
from langserve import add_routes
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from app.access.keys import Principal
from app.chat.events import ChatResponse, FinalEvent
from app.chat.turn import Turn, TurnStream, new_conversation_id
from app.chatbot import Chatbot
from app.errors import ErrorCode, ServiceError
from app.gateway.dependencies import chat_caller, principal_of, spend_tokens
from app.gateway.schemas import CONVERSATION_ID_PATTERN
from app.services import Services


class HumanInput(BaseModel):
    """The user's message; any other message type is refused (422)."""

    model_config = ConfigDict(extra="ignore")
    type: Literal["human"] = "human"
    content: str = Field(min_length=1)


class GraphInput(BaseModel):
    """Exactly one new human message: earlier turns come from the checkpoint, never from the client."""

    messages: list[HumanInput] = Field(min_length=1, max_length=1)


def _detach_from_this_run() -> None:
    """The graph must not report to this run's callbacks: LangServe's stream_events and
    stream_log would carry its inner events (the unredacted draft, every retrieved
    passage). Each LangServe call runs in its own copy of the context, so this clears the
    inherited run config for the turn only."""
    var_child_runnable_config.set(None)


def _admitted(config: RunnableConfig | None) -> tuple[TurnStream, Principal, Services]:
    """The turn `_admit` put in the run's config, its caller, and the services it runs on."""
    configurable = (config or {}).get("configurable", {})
    if not isinstance(configurable.get("turn"), TurnStream) or not isinstance(configurable.get("caller"), Principal):
        raise ServiceError(ErrorCode.UNAUTHORIZED, "the request was not authenticated")
    return configurable["turn"], configurable["caller"], configurable["services"]


class ChatTurn(Runnable[GraphInput, dict[str, Any]]):
    """The turn the request's config carries, admitted by `_admit`."""

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

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> dict[str, Any]:
        raise NotImplementedError("a chat turn runs asynchronously: use ainvoke")

    async def _answer(self, turn_input: Any, config: RunnableConfig) -> dict[str, Any]:
        _detach_from_this_run()
        stream, caller, services = _admitted(config)
        response = await stream.collect()
        await spend_tokens(services, caller, response.usage.total_tokens)
        return response.model_dump()

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> dict[str, Any]:
        return await self._acall_with_config(self._answer, input, config)

    async def _events(self, inputs: AsyncIterator[Any], config: RunnableConfig) -> AsyncIterator[dict[str, Any]]:
        async for _ in inputs:  # one input: the turn's message, read when it was admitted
            pass
        _detach_from_this_run()
        stream, caller, services = _admitted(config)
        try:
            async for event in stream:
                if isinstance(event, FinalEvent):
                    await spend_tokens(services, caller, event.usage.total_tokens)
                yield event.frame()
        finally:
            await stream.aclose()

    async def astream(self, input: Any, config: RunnableConfig | None = None,
                      **kwargs: Any) -> AsyncIterator[dict[str, Any]]:
        async def one() -> AsyncIterator[Any]:
            yield input

        async for chunk in self._atransform_stream_with_config(one(), self._events, config):
            yield chunk


async def _admit(config: dict[str, Any], request: Request) -> dict[str, Any]:
    """Every LangServe run is one turn of a conversation, admitted here: the thread the client
    names, or a new one; who calls, with which scopes, from the authenticated principal.

    LangServe drops configurable keys the runnable does not declare, so the client's
    `config.configurable.thread_id` is read from the body itself; LangServe validates the
    input only after this, so it is checked here first (nothing is claimed for a bad one).
    """
    try:
        body = await request.json()
        thread_id = body.get("config", {}).get("configurable", {}).get("thread_id")
        turn_input = GraphInput.model_validate(body.get("input"))
    except (ValueError, AttributeError, ValidationError):
        raise ServiceError(ErrorCode.VALIDATION_ERROR, "input.messages must be exactly one human message") from None
    if not (isinstance(thread_id, str) and re.fullmatch(CONVERSATION_ID_PATTERN, thread_id)):
        thread_id = new_conversation_id()
    caller = principal_of(request)  # with the chat scope: every route of LangServe's depends on it
    bot: Chatbot = request.app.state.chatbot
    stream = await bot.chat.open(Turn.ask(caller, turn_input.messages[0].content, thread_id))
    config["configurable"] = {"turn": stream, "caller": caller, "services": bot.services}
    return config


def publish_turns(app: FastAPI) -> None:
    """LangServe's routes for the chat turn."""
    add_routes(
        app,
        ChatTurn(),
        path="/graph",
        per_req_config_modifier=_admit,
        dependencies=[Depends(chat_caller)],
        # No batch: several inputs on one conversation would run at once.
        enabled_endpoints=("invoke", "stream", "stream_log", "stream_events",
                           "playground", "input_schema", "output_schema", "config_schema"),
    )
