"""One chat turn: admitted once, then streamed through the graph as typed events.

`Chat.open(turn)` admits a turn before anything is sent, so every refusal is a
`ServiceError` with its status: the message's length (the one check of it on the service's
transports), a full model queue (`overloaded`), another owner's conversation
(`conversation_not_found`), a tool call that waits for approval (`approval_pending`), or a
decision with nothing to decide (`nothing_to_approve`). What it admits holds its place in
the model queue and the conversation's turn lock until its stream ends or is closed, so
nothing is checked twice and nothing can slip in between. `Chat.run` collects a turn for
the transports that answer at once (`POST /chat`, an approval, LangServe's invoke).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import BaseMessage, HumanMessage
from langgraph.constants import INTERRUPT
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Command

from app.access.keys import Principal
from app.chat.detached import detached
from app.chat.events import (
    ApprovalRequiredEvent,
    ChatResponse,
    ErrorEvent,
    FinalEvent,
    MetadataEvent,
    PendingApproval,
    RestartEvent,
    SourcesEvent,
    TokenEvent,
    TurnEvent,
)
from app.conversations.locks import TurnLocks
from app.conversations.registry import ConversationRegistry
from app.errors import ErrorCode, ServiceError
from app.llm.gate import GateTicket, ModelGate, Overloaded
from app.observability import metrics
from app.safety.pii import redact
from graphs.context import RunContext
from graphs.names import Node
from graphs.stream import restart_of, token_of

log = logging.getLogger("chatbot.chat")
# A turn is checkpointed when its run ends (also on an error or a cancelled stream),
# not after every node: the per-node writes doubled the gateway's overhead
# (bench/gateway_overhead.py: p50 13 -> 7 ms in-process) for no gain in a turn this short.
TURN_DURABILITY = "exit"


def new_conversation_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True)
class Decision:
    """A person's decision on the tool call waiting for approval."""

    approved: bool
    comment: str | None = None


@dataclass(frozen=True)
class Turn:
    """One turn as a transport asks for it: who asks, in which conversation, and either a
    `message` or a `decision` on the tool call that waits for approval there.

    A turn that is not `stored` (an OpenAI client's request without a conversation) runs in
    a conversation of its own, made of the `history` the client sent, which is deleted when
    the turn ends: nothing of it is kept, listed or claimed.
    """

    principal: Principal
    conversation_id: str
    message: str = ""
    decision: Decision | None = None
    history: tuple[BaseMessage, ...] = ()
    stored: bool = True

    @classmethod
    def ask(cls, principal: Principal, message: str, conversation_id: str | None = None) -> Turn:
        return cls(principal, conversation_id or new_conversation_id(), message)

    @classmethod
    def one_shot(cls, principal: Principal, message: str, history: tuple[BaseMessage, ...] = ()) -> Turn:
        """A turn on the client's own history, stored nowhere."""
        return cls(principal, f"oneshot-{new_conversation_id()}", message, history=history, stored=False)

    @classmethod
    def decide(cls, principal: Principal, conversation_id: str, approved: bool, comment: str | None = None) -> Turn:
        return cls(principal, conversation_id, decision=Decision(approved, comment))


class TurnStream:
    """An admitted turn's events, in order; closing it early gives up its place and lock."""

    def __init__(self, events: AsyncGenerator[TurnEvent, None]):
        self._events = events

    def __aiter__(self) -> AsyncIterator[TurnEvent]:
        return self._events

    async def aclose(self) -> None:
        await self._events.aclose()

    async def collect(self) -> ChatResponse:
        """Read to the end (the turn's last nodes run after its answer) and return the response."""
        response = None
        async for event in self._events:
            if isinstance(event, ErrorEvent):
                event.raise_it()
            if isinstance(event, FinalEvent):
                response = event
        if response is None:
            raise ServiceError(ErrorCode.INTERNAL_ERROR, "the turn ended without an answer")
        return response


_ADMITTED = object()  # what the event generator yields once the turn is admitted


class Chat:
    """The service's turns: one compiled graph, the admission rules, the gate and the locks."""

    def __init__(self, graph: CompiledStateGraph, *, registry: ConversationRegistry, gate: ModelGate,
                 locks: TurnLocks, max_message_chars: int):
        self.graph, self.registry, self.gate, self.locks = graph, registry, gate, locks
        self.max_message_chars = max_message_chars

    async def open(self, turn: Turn) -> TurnStream:
        """Admit the turn (or raise its `ServiceError`); its events follow.

        The event generator runs up to its `_ADMITTED` marker here, so the admission's checks
        and what they take (the turn lock, a place in the model queue) are held by the
        stream from now on, and given back when it ends or is closed.
        """
        events = self._events(turn)
        await anext(events)  # _ADMITTED
        return TurnStream(events)

    async def run(self, turn: Turn) -> ChatResponse:
        return await (await self.open(turn)).collect()

    async def pending_approval(self, conversation_id: str) -> PendingApproval | None:
        """The tool call of this conversation that waits for a decision, from the latest
        checkpoint's pending writes (cheaper than reading the whole state)."""
        saved = await self.graph.checkpointer.aget_tuple({"configurable": {"thread_id": conversation_id}})
        for _task, channel, value in (saved.pending_writes or []) if saved else ():
            if channel == INTERRUPT and value:
                return PendingApproval.model_validate(value[0].value)
        return None

    async def _events(self, turn: Turn) -> AsyncGenerator[Any, None]:
        self._check_message(turn)
        owner, new = await self._conversation_owner(turn) if turn.stored else (turn.principal.owner, True)
        # A decision runs a tool call: only under the shared lock, so two approvals racing on two
        # replicas cannot both run it (app/conversations/locks.py).
        async with self.locks.hold(turn.conversation_id, required=turn.decision is not None):
            await self._check_approval_state(turn, new)
            ticket = await self._queue_place()
            try:
                yield _ADMITTED
                await ticket.wait()
                async with aclosing(self._graph_events(turn)) as events:  # closing the turn stops the run
                    async for event in events:
                        if isinstance(event, FinalEvent) and turn.decision is None and turn.stored:
                            await self._record_turn(turn.conversation_id, owner)
                        yield event
            finally:
                ticket.release()
                if not turn.stored:
                    await self._forget(turn.conversation_id)

    async def _forget(self, thread_id: str) -> None:
        """Delete a one-shot turn's checkpoints (shielded: a closed stream still cleans up)."""
        try:
            await asyncio.shield(self.graph.checkpointer.adelete_thread(thread_id))
        except Exception as exc:
            log.error("the checkpoints of one-shot turn %s were not deleted: %s", thread_id, type(exc).__name__)

    async def _queue_place(self) -> GateTicket:
        """A place in the model queue, taken last: it is held only while the turn waits for its slot."""
        try:
            return await self.gate.admit()
        except Overloaded as exc:
            raise ServiceError(ErrorCode.OVERLOADED, details={"retry_after": exc.retry_after},
                               headers={"Retry-After": str(exc.retry_after)}, retry_after=exc.retry_after) from None

    def _check_message(self, turn: Turn) -> None:
        if turn.decision is not None:
            return
        if not turn.message.strip():
            raise ServiceError(ErrorCode.EMPTY_MESSAGE)
        if len(turn.message) > self.max_message_chars:
            raise ServiceError(ErrorCode.MESSAGE_TOO_LONG, limit=self.max_message_chars)

    async def _conversation_owner(self, turn: Turn) -> tuple[str, bool]:
        """Whose conversation the turn writes to, and whether it was just claimed (new).

        A message claims the conversation for its sender (or finds it theirs). A decision may
        come from the owner (who may only withdraw: reject) or from an admin, in any
        conversation: the person who approves a production deployment is an operator, not
        whoever asked for it. Anyone else gets 404, as for a conversation that does not exist.
        """
        principal, conversation_id = turn.principal, turn.conversation_id
        if turn.decision is None:
            title = redact(turn.message)[0]  # a new conversation is titled by its first question, masked
            claimed = await asyncio.to_thread(self.registry.claim, conversation_id, principal.owner, None, title)
            if claimed is None:
                raise ServiceError(ErrorCode.CONVERSATION_NOT_FOUND, conversation_id=conversation_id)
            return principal.owner, claimed == "new"
        record = await asyncio.to_thread(self.registry.get, conversation_id)
        is_admin = principal.may("admin")
        if record is None or (record["owner"] != principal.owner and not is_admin):
            raise ServiceError(ErrorCode.CONVERSATION_NOT_FOUND, conversation_id=conversation_id)
        if turn.decision.approved and not is_admin:
            raise ServiceError(ErrorCode.FORBIDDEN, "approving a tool call needs a key with the admin scope; "
                                                    "its owner may reject it")
        return record["owner"], False

    async def _check_approval_state(self, turn: Turn, new: bool) -> None:
        """Under the turn lock: a message while a tool call waits, or a decision with none waiting, is refused."""
        pending = None if new else await self.pending_approval(turn.conversation_id)
        if turn.decision is None and pending is not None:
            raise ServiceError(ErrorCode.APPROVAL_PENDING, details=pending.model_dump(), reason=pending.reason)
        if turn.decision is not None and pending is None:
            raise ServiceError(ErrorCode.NOTHING_TO_APPROVE, conversation_id=turn.conversation_id)

    async def _record_turn(self, conversation_id: str, owner: str) -> None:
        try:
            await asyncio.to_thread(self.registry.record_turn, conversation_id, owner)
        except Exception as exc:  # the turn is checkpointed; only its count is late
            log.error("turn of %s not recorded in the registry: %s", conversation_id, type(exc).__name__)

    async def _graph_events(self, turn: Turn) -> AsyncGenerator[TurnEvent, None]:
        run_input: Any = ({"messages": [*turn.history, HumanMessage(turn.message)]} if turn.decision is None
                          else Command(resume={"approved": turn.decision.approved, "comment": turn.decision.comment}))
        context = RunContext(owner=turn.principal.owner, scopes=turn.principal.scopes,
                             conversation_id=turn.conversation_id)
        reader = _TurnReader(turn.conversation_id, stored=turn.stored)
        run = self.graph.astream(run_input, {"configurable": {"thread_id": turn.conversation_id}}, context=context,
                                 stream_mode=["updates", "values", "custom"], durability=TURN_DURABILITY)
        try:
            # Closed early (the client went away), the run is cancelled too: LangGraph cancels
            # its node tasks, so the model stops writing and no half-written answer is stored.
            async with detached(run) as steps:
                async for mode, payload in steps:
                    for event in reader.read(mode, payload):
                        yield event
        except Exception as exc:
            log.error("chat turn failed for conversation %s: %s", turn.conversation_id, type(exc).__name__,
                      exc_info=exc)
            if not reader.answered:
                yield ErrorEvent.of(ServiceError(ErrorCode.INTERNAL_ERROR, "the answer could not be completed"))
            return
        for event in reader.finish():
            yield event


class _TurnReader:
    """The graph's stream of one run, as the turn's events.

    Nodes are told apart by the names the builder gives them (graphs/names.py); the answer
    is sent as soon as the output guard has checked it, not after the nodes that follow it
    (the history summary), whose updates have nothing for the client.
    """

    def __init__(self, conversation_id: str, *, stored: bool = True):
        self.conversation_id, self.stored = conversation_id, stored
        self.started = time.perf_counter()
        self.state: dict[str, Any] = {}
        self.tokens = 0
        self.answered = False

    def read(self, mode: str, payload: Any) -> list[TurnEvent]:
        if self.answered:
            return []
        if mode == "values":
            self.state = payload
            return []
        if mode == "custom":
            return self._custom(payload)
        events: list[TurnEvent] = []
        for node, update in payload.items():
            update = update or {}
            if node == Node.ROUTE or (node == Node.GUARD_INPUT and update.get("route") == "blocked"):
                events.append(MetadataEvent(conversation_id=self.conversation_id, route=update["route"]))
            elif node == INTERRUPT:  # a tool call waits for approval: the run ends here, checkpointed
                self.answered = True
                events += self._approval_events(PendingApproval.model_validate(update[0].value))
            elif node == Node.GUARD_OUTPUT:
                self.answered = True
                events += self._answer_events({**self.state, **update})
        return events

    def finish(self) -> list[TurnEvent]:
        """A run that ended before the output guard (a blocked message) answers with its state."""
        return [] if self.answered else self._answer_events(self.state)

    def _custom(self, payload: Any) -> list[TurnEvent]:
        if (restart := restart_of(payload)) is not None:
            self.tokens = 0  # the client drops what it has; the next provider starts over
            return [RestartEvent(**restart)]
        if (text := token_of(payload)) is not None:
            if self.tokens == 0:
                metrics.TIME_TO_FIRST_TOKEN.observe(time.perf_counter() - self.started)
            self.tokens += 1
            return [TokenEvent.model_construct(text=text)]  # the most frequent event; `text` is a str already
        return []

    def _approval_events(self, pending: PendingApproval) -> list[TurnEvent]:
        answer = (f"{pending.reason}: it runs once approved. Approve or reject it with "
                  f"POST /conversations/{self.conversation_id}/approve." if self.stored else
                  f"{pending.reason}: it needs a person's approval, which only a stored conversation can "
                  f"wait for (start one with POST /chat, then name it as conversation_id); nothing ran.")
        final = FinalEvent(conversation_id=self.conversation_id, answer=answer, sources=[], route="tool",
                           provider="tool", usage={}, pending_approval=pending.model_dump(),
                           tool={"tool": pending.tool, "arguments": pending.arguments, "ok": False,
                                 "outcome": "pending_approval"})
        return [ApprovalRequiredEvent(**pending.model_dump()), TokenEvent(text=answer), SourcesEvent(), final]

    def _answer_events(self, state: dict[str, Any]) -> list[TurnEvent]:
        final = FinalEvent(
            conversation_id=self.conversation_id,
            message_id=state.get("message_id"),
            answer=state.get("answer", ""),
            sources=state.get("sources", []),
            route=state.get("route") or "knowledge",
            provider=state.get("provider", "unknown"),
            degraded=bool(state.get("degraded", False)),
            cached=bool(state.get("cached", False)),
            usage=state.get("usage") or {},
            tool=state.get("tool_result") if state.get("route") == "tool" else None,
        )
        metrics.ANSWERS.labels(final.provider, str(final.degraded).lower()).inc()
        events: list[TurnEvent] = []
        if self.tokens == 0 and final.answer:
            # An answer no model wrote token by token (a refusal, a tool's result).
            metrics.TIME_TO_FIRST_TOKEN.observe(time.perf_counter() - self.started)
            events.append(TokenEvent(text=final.answer))
        return [*events, SourcesEvent(sources=final.sources), final]
