"""One chat turn through the graph, as a stream of events every transport shares.

`/chat` collects the events, `/chat/stream` sends them as Server-Sent Events and
`/ws/chat` as WebSocket frames: one code path, so the three cannot drift apart.

Events: `metadata` (conversation id, route), `token` (answer text as the model writes
it), `restart` (the provider failed mid-answer: discard the tokens so far, another
provider starts over), `approval_required` (a tool call waits for a person's decision:
`POST /conversations/{id}/approve`), `sources`, `final` (the whole response), or `error`.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
import weakref
from collections.abc import AsyncIterator
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import HumanMessage
from langgraph.constants import INTERRUPT
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Command

from app.chat.events import ChatResponse
from app.conversations.registry import LOCAL_OWNER, ConversationRegistry
from app.errors import ApiError, error_body
from app.gateway.schemas import ChatRequest
from app.llm.gate import ModelGate, Overloaded
from app.observability import metrics

log = logging.getLogger("chatbot.conversation")
# A turn is checkpointed when its run ends (also on an error or a cancelled stream),
# not after every node: the per-node writes doubled the gateway's overhead
# (bench/gateway_overhead.py: p50 13 -> 7 ms in-process) for no gain in a turn this short.
TURN_DURABILITY = "exit"


@dataclass(frozen=True)
class ChatEvent:
    event: str
    data: dict[str, Any]


@dataclass(frozen=True)
class Turn:
    """One turn: which conversation, whose, and what it does.

    `message` starts a new turn; `decision` (`{"approved", "comment", "by"}`) instead resumes
    the tool call waiting for approval. `new`: the conversation was just claimed (nothing
    can wait in it). `scopes`: the caller's API-key scopes, which the tools check (None: no
    tool with a side effect and no admin tool runs). `caller`: who sends this turn, when not
    the owner (an admin deciding on another owner's tool call); the graph records it as
    the approver.
    """

    conversation_id: str
    message: str = ""
    owner: str = LOCAL_OWNER
    decision: dict[str, Any] | None = None
    new: bool = False
    scopes: frozenset[str] | None = None
    caller: str | None = None


def check_message(request: ChatRequest, max_chars: int) -> None:
    if len(request.message) > max_chars:
        raise ApiError(422, "message_too_long", f"message is longer than {max_chars} characters")


def overloaded_error(exc: Overloaded) -> ApiError:
    return ApiError(503, "overloaded", str(exc), {"retry_after": exc.retry_after},
                    headers={"Retry-After": str(exc.retry_after)})


def new_conversation_id() -> str:
    return uuid.uuid4().hex


def conversation_not_found(conversation_id: str) -> ApiError:
    # The same answer whether the conversation is missing or another owner's: no probing.
    return ApiError(404, "conversation_not_found", f"no conversation {conversation_id!r}")


async def approval_owner(registry: ConversationRegistry | None, conversation_id: str, owner: str,
                         is_admin: bool, approving: bool) -> str:
    """Who owns the conversation whose tool call `owner` wants to decide on.

    Approving needs the admin scope (the person who approves a production deployment is an
    operator, not whoever asked for it), and an admin may decide in any conversation; the
    owner may withdraw (reject) their own request. Anyone else gets 404, as for a
    conversation that does not exist.
    """
    if registry is None:
        return owner
    record = await asyncio.to_thread(registry.get, conversation_id)
    if record is None or (record["owner"] != owner and not is_admin):
        raise conversation_not_found(conversation_id)
    if approving and not is_admin:
        raise ApiError(403, "forbidden", "approving a tool call needs a key with the admin scope; "
                                         "its owner may reject it")
    return record["owner"]


async def claim_conversation(registry: ConversationRegistry | None, conversation_id: str, owner: str) -> bool:
    """Before a turn: the conversation is the owner's (or new, and now theirs), else 404.

    Returns whether it is new (a new conversation has nothing waiting for approval).
    """
    if registry is None:
        return False
    claimed = await asyncio.to_thread(registry.claim, conversation_id, owner)
    if claimed is None:
        raise conversation_not_found(conversation_id)
    return claimed == "new"


def response_from_state(conversation_id: str, state: dict[str, Any]) -> ChatResponse:
    tool_result = state.get("tool_result")
    return ChatResponse(
        conversation_id=conversation_id,
        message_id=state.get("message_id"),
        answer=state.get("answer", ""),
        sources=state.get("sources", []),
        route=state.get("route") or "knowledge",
        provider=state.get("provider", "unknown"),
        degraded=bool(state.get("degraded", False)),
        cached=bool(state.get("cached", False)),
        usage=state.get("usage") or {},
        tool=tool_result if state.get("route") == "tool" else None,
    )


# One turn at a time per conversation in this process: two interleaved turns would
# each answer without the other's question in their history.
_turn_locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()


def turn_lock(conversation_id: str) -> asyncio.Lock:
    lock = _turn_locks.get(conversation_id)
    if lock is None:
        lock = _turn_locks[conversation_id] = asyncio.Lock()
    return lock


async def pending_approval(graph: CompiledStateGraph, conversation_id: str) -> dict[str, Any] | None:
    """The tool call of this conversation that waits for a person's decision, if any.

    Read from the latest checkpoint's pending writes (cheaper than the whole state).
    """
    saved = await graph.checkpointer.aget_tuple({"configurable": {"thread_id": conversation_id}})
    for _task, channel, value in (saved.pending_writes or []) if saved else ():
        if channel == INTERRUPT and value:
            return value[0].value
    return None


def approval_pending_error(pending: dict[str, Any]) -> ApiError:
    return ApiError(409, "approval_pending",
                    f"{pending.get('reason', 'a tool call waits for approval')}: approve or reject it first "
                    "(POST /conversations/{id}/approve)", pending)


def nothing_to_approve_error(conversation_id: str) -> ApiError:
    return ApiError(409, "nothing_to_approve",
                    f"conversation {conversation_id!r} has no tool call waiting for approval")


async def stream_turn(
    graph: CompiledStateGraph,
    turn: Turn,
    gate: ModelGate | None = None,
    registry: ConversationRegistry | None = None,
) -> AsyncIterator[ChatEvent]:
    """Run one turn and yield its events; failures end the stream with an `error` event.

    The caller has claimed the conversation for `turn.owner` (`claim_conversation`). While
    a tool call waits for approval, new messages are refused (`approval_pending`), so a
    production deployment is never silently dropped.

    With a `gate`, the turn first waits for its model slot (LLM_RATE_LIMIT), or ends at
    once with an `overloaded` error when LLM_MAX_QUEUE turns are already waiting.
    """
    conversation_id = turn.conversation_id
    try:
        async with gate.turn() if gate is not None else nullcontext():
            async with turn_lock(conversation_id):
                pending = None if turn.new else await pending_approval(graph, conversation_id)
                if (turn.decision is None) != (pending is None):
                    error = (approval_pending_error(pending) if pending is not None
                             else nothing_to_approve_error(conversation_id))
                    yield ChatEvent("error", error_body(error.code, error.message, error.details))
                    return
                run_input: Any = ({"messages": [HumanMessage(turn.message)]} if turn.decision is None
                                  else Command(resume={"by": turn.owner, **turn.decision}))
                async for event in _stream_turn(graph, run_input, conversation_id, turn.scopes,
                                                turn.caller or turn.owner):
                    # A decision completes the turn that paused for it: that turn is counted already.
                    if event.event == "final" and registry is not None and turn.decision is None:
                        try:
                            await asyncio.to_thread(registry.record_turn, conversation_id, turn.owner)
                        except Exception as exc:  # the turn is checkpointed; only its count is late
                            log.error("turn of %s not recorded in the registry: %s", conversation_id,
                                      type(exc).__name__)
                    yield event
    except Overloaded as exc:
        yield ChatEvent("error", error_body("overloaded", str(exc), {"retry_after": exc.retry_after}))


def _run_config(conversation_id: str, scopes: frozenset[str] | None, caller: str) -> dict[str, Any]:
    """The graph run's config: who calls with which scopes (the tools and approvals check them)."""
    return {"configurable": {"thread_id": conversation_id, "owner": caller,
                             **({"scopes": sorted(scopes)} if scopes is not None else {})}}


async def _stream_turn(graph: CompiledStateGraph, run_input: Any, conversation_id: str,
                       scopes: frozenset[str] | None, caller: str) -> AsyncIterator[ChatEvent]:
    config = _run_config(conversation_id, scopes, caller)
    started = time.perf_counter()
    streamed_tokens = 0
    state: dict[str, Any] = {}
    answered = False
    try:
        async for mode, payload in graph.astream(
            run_input,
            config,
            stream_mode=["updates", "values", "custom"],
            durability=TURN_DURABILITY,
        ):
            if answered:
                continue  # what runs after the answer (the history summary) has nothing for the client
            if mode == "values":
                state = payload
            elif mode == "updates":
                for node, update in payload.items():
                    if node == "route" or (node == "guard_input" and (update or {}).get("route") == "blocked"):
                        yield ChatEvent("metadata", {"conversation_id": conversation_id, "route": update["route"]})
                    elif node == "__interrupt__":
                        # A tool call waits for approval: the run ends here, checkpointed.
                        answered = True
                        for event in _approval_events(update[0].value, conversation_id):
                            yield event
                    elif node == "guard_output":
                        # The answer is final: send it now, not after the nodes that follow it.
                        answered = True
                        for event in _answer_events({**state, **update}, conversation_id, streamed_tokens, started):
                            yield event
            elif mode == "custom" and isinstance(payload, dict) and "restart" in payload:
                # The provider failed mid-answer: the client drops the tokens it has so far.
                streamed_tokens = 0
                yield ChatEvent("restart", payload["restart"])
            elif mode == "custom" and isinstance(payload, dict) and "token" in payload:
                # The answer as generate writes it: only text the output guard leaves as it is.
                if streamed_tokens == 0:
                    metrics.TIME_TO_FIRST_TOKEN.observe(time.perf_counter() - started)
                streamed_tokens += 1
                yield ChatEvent("token", {"text": payload["token"]})
    except Exception as exc:
        log.error("chat turn failed for conversation %s: %s", conversation_id, type(exc).__name__, exc_info=exc)
        if not answered:
            yield ChatEvent("error", error_body("internal_error", "the answer could not be completed"))
        return
    if not answered:  # a turn that ends before guard_output (a blocked message)
        for event in _answer_events(state, conversation_id, streamed_tokens, started):
            yield event


def _approval_events(pending: dict[str, Any], conversation_id: str) -> list[ChatEvent]:
    answer = (f"{pending['reason']}: it runs once approved. Approve or reject it with "
              f"POST /conversations/{conversation_id}/approve.")
    response = ChatResponse(conversation_id=conversation_id, answer=answer, sources=[], route="tool",
                            provider="tool", usage={}, pending_approval=pending,
                            tool={"tool": pending["tool"], "arguments": pending["arguments"], "ok": False,
                                  "outcome": "pending_approval"})
    return [ChatEvent("approval_required", pending), ChatEvent("token", {"text": answer}),
            ChatEvent("sources", {"sources": []}), ChatEvent("final", response.model_dump())]


def _answer_events(state: dict[str, Any], conversation_id: str, streamed_tokens: int,
                   started: float) -> list[ChatEvent]:
    response = response_from_state(conversation_id, state)
    metrics.ANSWERS.labels(response.provider, str(response.degraded).lower()).inc()
    events = []
    if streamed_tokens == 0 and response.answer:
        # Answers that no model wrote token by token (a refusal, a tool's result).
        metrics.TIME_TO_FIRST_TOKEN.observe(time.perf_counter() - started)
        events.append(ChatEvent("token", {"text": response.answer}))
    events.append(ChatEvent("sources", {"sources": [s.model_dump() for s in response.sources]}))
    events.append(ChatEvent("final", response.model_dump()))
    return events


async def run_turn(
    graph: CompiledStateGraph,
    turn: Turn,
    gate: ModelGate | None = None,
    registry: ConversationRegistry | None = None,
) -> ChatResponse:
    """The whole turn at once (`POST /chat`, an approval); an `error` event becomes its status."""
    response = None
    # Read to the end: the turn's last nodes (the history summary) run after its answer.
    async for event in stream_turn(graph, turn, gate, registry):
        if event.event == "error":
            error = event.data["error"]
            if error["code"] == "overloaded":
                raise overloaded_error(Overloaded(error["details"]["retry_after"]))
            status = 409 if error["code"] in ("approval_pending", "nothing_to_approve") else 500
            raise ApiError(status, error["code"], error["message"], error.get("details"))
        if event.event == "final":
            response = ChatResponse.model_validate(event.data)
    if response is None:
        raise ApiError(500, "internal_error", "the turn ended without an answer")
    return response
