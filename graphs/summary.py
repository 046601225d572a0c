"""HISTORY_SUMMARY: what the sliding window lets go of is kept as a running summary.

After each turn, the earlier messages beyond what the next prompt keeps verbatim (a
quarter of the window, at most MAX_HISTORY_MESSAGES) are folded into the conversation's
summary by the chat model, together with the summary so far. The next prompts carry the
summary after the system prompt and window only over the messages it does not cover, so
nothing is said twice and nothing falls out unsummarised while the model can summarise.

The summary is written after the answer has been sent (the client does not wait for it).
When no model can summarise (the extractive provider answered, or every provider
failed), the summary stays as it was and the next turn tries again: the window still
keeps every prompt within MAX_CONTEXT_LENGTH either way.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langgraph.runtime import Runtime

import prompts
from graphs.budget import cut_to_tokens, fit_history
from graphs.calls import model_kwargs
from graphs.context import ChatDependencies, RunContext, run_caller
from graphs.state import ChatState

log = logging.getLogger("chatbot.graph")
VERBATIM_SHARE = 4  # the window's part that recent messages keep verbatim: a quarter
SUMMARY_WORDS = 80


def conversation_messages(messages: list[BaseMessage]) -> list[BaseMessage]:
    """The user's and the assistant's messages: what `summarized` counts."""
    return [m for m in messages if isinstance(m, HumanMessage | AIMessage)]


def fold_until(
    messages: list[BaseMessage], summarized: int, keep_budget: int, max_messages: int, count: Callable[[str], int]
) -> int:
    """How many messages the summary should cover: all but the newest that stay verbatim."""
    pending = messages[summarized:]
    kept, _ = fit_history(pending, keep_budget, max_messages, count)
    return summarized + len(pending) - len(kept)


def transcript(messages: list[BaseMessage], budget: int, count: Callable[[str], int]) -> tuple[str, int]:
    """The oldest messages as `User: ...` lines within `budget` tokens, and how many went in.

    A message too long for the budget on its own goes in cut, so every call makes progress.
    """
    lines: list[str] = []
    for message in messages:
        line = f"{'User' if isinstance(message, HumanMessage) else 'Assistant'}: {message.content}"
        cost = count(line) + 1
        if cost > budget:
            if not lines:
                lines.append(cut_to_tokens(line, max(0, budget), count))
            break
        lines.append(line)
        budget -= cost
    return "\n".join(lines), len(lines)


async def summarize(state: ChatState, deps: ChatDependencies, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Fold the messages that left the verbatim window into the summary (after the answer)."""
    messages = conversation_messages(state.get("messages", []))
    summarized = state.get("summarized", 0)
    window = deps.max_context_tokens - deps.answer_tokens
    upto = fold_until(messages, summarized, window // VERBATIM_SHARE, deps.max_history_messages, deps.count_tokens)
    if upto <= summarized:
        return {}
    template = prompts.load("summary")
    # The summary so far opens the transcript: the new summary replaces it.
    previous = f"Earlier: {state['summary']}\n" if state.get("summary") else ""
    frame = deps.count_tokens(template.format(words=SUMMARY_WORDS, transcript=previous))
    # The oldest messages first: what does not fit this time is folded after the next turn.
    text, folded = transcript(messages[summarized:upto], window - frame, deps.count_tokens)
    prompt = template.format(words=SUMMARY_WORDS, transcript=previous + text)
    try:
        conversation_id = run_caller(runtime).conversation_id
        reply = await deps.chat_model.ainvoke([HumanMessage(prompt)], **model_kwargs(conversation_id))
    except Exception as exc:  # the turn is answered already; the next one tries again
        log.warning("history summary failed: %s", type(exc).__name__)
        return {}
    meta = reply.response_metadata or {}
    summary = str(reply.content).strip()
    if meta.get("provider") == "extractive" or not summary:
        return {}  # the extractive provider quotes passages; it cannot summarise
    return {"summary": summary, "summarized": summarized + folded}
