"""A conversation a client sends whole (OpenAI clients resend it every time), as one turn.

The last message is the question; the ones before it are the history the answer may
build on, and every one of them is the client's word, not the service's:
- user messages are masked for personal data and credentials (as `guard_input` masks the
  question), and each is checked by the input guard: a conversation with a message the
  guard refuses is answered as that message would be, refused;
- assistant messages are context only: masked the same way, never stored, never cited;
- system and developer messages are left out, unread: the service's own prompts and
  guardrails decide how it answers, and a client cannot replace them. (They are not
  judged either: OpenAI clients send their own, "You are a helpful assistant", which an
  injection check rightly finds instruction-like, and what never reaches the model cannot
  instruct it.)
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Literal

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

from app.safety.guardrails import InputGuard
from app.safety.pii import redact

Role = Literal["system", "developer", "user", "assistant"]


@dataclass(frozen=True)
class ClientMessage:
    role: Role
    text: str


@dataclass(frozen=True)
class ClientTurn:
    """What the turn asks (`question`) and the history it is asked in."""

    question: str
    history: tuple[BaseMessage, ...]


async def client_turn(guard: InputGuard, messages: list[ClientMessage]) -> ClientTurn:
    """The question and history of `messages`, whose last one is the user's question.

    When the guard refuses an earlier message, that message becomes the question, with no
    history: the graph's `guard_input` refuses it as it refuses any question, with the
    same answer, route (`blocked`) and metrics.
    """
    *earlier, last = messages
    checked = [m for m in earlier if m.role == "user" and m.text.strip()]
    verdicts = await asyncio.gather(*(asyncio.to_thread(guard.check, m.text) for m in checked))
    refused = next((m.text for m, verdict in zip(checked, verdicts, strict=True) if verdict.blocked), None)
    if refused is not None:
        return ClientTurn(refused, ())
    history: list[BaseMessage] = []
    for message in earlier:
        masked = redact(message.text)[0]
        if message.role == "user":
            history.append(HumanMessage(masked))
        elif message.role == "assistant":
            history.append(AIMessage(masked))
    return ClientTurn(last.text, tuple(history))
