"""The context budget: what of a turn's prompt fits MAX_CONTEXT_LENGTH, and what it costs.

The window is MAX_CONTEXT_LENGTH tokens, less the tokens reserved for the answer. The
system prompt and the current question always go in (a question too long for the window
is cut); earlier messages go in newest first, at most MAX_HISTORY_MESSAGES of them and,
when passages wait, at most half of what is left; then passages go in by rank while they
fit. So the runbook's "context length exceeded" cannot happen, however long the
conversation or large the retrieved context.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, trim_messages

import prompts

MESSAGE_OVERHEAD = 4  # tokens a message costs beyond its text: role line, separator
MIN_CUT_PASSAGE_TOKENS = 48  # less of a passage than this is not worth reading


@dataclass
class PromptPlan:
    messages: list[BaseMessage] = field(default_factory=list)
    system_tokens: int = 0
    history_tokens: int = 0
    context_tokens: int = 0
    query_tokens: int = 0
    summary_tokens: int = 0  # the conversation summary's part of history_tokens (HISTORY_SUMMARY)
    history_kept: int = 0  # earlier messages in the prompt
    history_dropped: int = 0  # earlier messages left out to fit
    history_summarized: int = 0  # earlier messages the summary covers instead
    passages: int = 0
    window: int = 0  # MAX_CONTEXT_LENGTH less the answer's tokens

    @property
    def total_tokens(self) -> int:
        """Every part, with each message's overhead (history tokens include theirs)."""
        return self.system_tokens + self.history_tokens + self.context_tokens + self.query_tokens + 2 * MESSAGE_OVERHEAD


def earlier_messages(messages: list[BaseMessage]) -> list[BaseMessage]:
    """The conversation before the current question (the last human message)."""
    last_question = max((n for n, m in enumerate(messages) if isinstance(m, HumanMessage)), default=len(messages))
    return [m for m in messages[:last_question] if isinstance(m, HumanMessage | AIMessage)]


def fit_history(
    earlier: list[BaseMessage], budget: int, max_messages: int, count: Callable[[str], int]
) -> tuple[list[BaseMessage], int]:
    """The newest earlier messages that fit `budget` tokens (at most `max_messages`), and their cost.

    A sliding window (LangChain's `trim_messages`): whole messages, newest first, starting
    with a question, so the model never reads an answer without its question.
    """

    def cost(message: BaseMessage) -> int:
        return count(str(message.content)) + MESSAGE_OVERHEAD

    def total(messages: list[BaseMessage]) -> int:
        return sum(cost(m) for m in messages)

    window = earlier[-max_messages:] if max_messages else []
    if not window:  # a conversation's first turn
        return [], 0
    kept = trim_messages(window, max_tokens=budget, token_counter=total, strategy="last", start_on="human")
    return kept, total(kept)


def cut_to_tokens(text: str, budget: int, count: Callable[[str], int]) -> str:
    """The start of `text` that fits `budget` tokens (halving the cut until it does)."""
    if count(text) <= budget:
        return text
    low, high = 0, len(text)
    while low < high:  # the longest prefix that fits: count is monotonic in the prefix
        middle = (low + high + 1) // 2
        if count(text[:middle]) <= budget:
            low = middle
        else:
            high = middle - 1
    return text[:low]


def plan_turn(
    *,
    system: str,
    earlier: list[BaseMessage],
    turn_template: str,
    question: str,
    passages: list[prompts.Passage],
    count: Callable[[str], int],
    max_context_tokens: int,
    answer_tokens: int,
    max_history_messages: int,
    max_passages: int | None,
    summary: str = "",
    summarized: int = 0,
) -> PromptPlan:
    """The messages for one turn within the window, with the breakdown of their tokens.

    `turn_template` has `{question}` and, for a knowledge turn, `{passages}`. A conversation
    `summary` covers the first `summarized` earlier messages: it follows the system prompt
    (cut to a quarter of the window at most) and the window slides over the rest.
    """
    plan = PromptPlan(window=max(1, max_context_tokens - answer_tokens))
    plan.system_tokens = count(system)
    if summary:
        note = cut_to_tokens(summary, plan.window // 4, count)
        with_summary = f"{system}\n\n{prompts.load('summary_context').format(summary=note)}"
        plan.summary_tokens = max(0, count(with_summary) - plan.system_tokens)
        system, earlier = with_summary, earlier[summarized:]
        plan.history_summarized = summarized
    empty_turn = turn_template.format(passages="", question="")
    # Each message costs a few tokens beyond its text (a role line, a separator, BOS).
    room_for_question = (plan.window - plan.system_tokens - plan.summary_tokens - count(empty_turn)
                         - 2 * MESSAGE_OVERHEAD)
    question = cut_to_tokens(question, max(0, room_for_question), count)
    plan.query_tokens = count(turn_template.format(passages="", question=question))
    left = plan.window - plan.system_tokens - plan.summary_tokens - plan.query_tokens - 2 * MESSAGE_OVERHEAD
    candidates = passages[:max_passages] if max_passages else passages
    history_budget = left // 2 if candidates else left
    history, plan.history_tokens = fit_history(earlier, max(0, history_budget), max_history_messages, count)
    plan.history_kept = len(history)
    plan.history_dropped = len(earlier) - len(history)
    left -= plan.history_tokens
    plan.history_tokens += plan.summary_tokens
    chosen: list[prompts.Passage] = []
    for passage in candidates:  # by rank, while they fit
        cost = count(prompts.format_passages([passage])) + 2
        if cost > left:
            # The first passage that does not fit goes in cut, if a useful part of it fits.
            header = count(prompts.format_passages([replace(passage, text="")])) + 2
            if left - header >= MIN_CUT_PASSAGE_TOKENS:
                chosen.append(replace(passage, text=cut_to_tokens(passage.text, left - header, count)))
            break
        chosen.append(passage)
        left -= cost
    block = prompts.format_passages(chosen)
    turn = turn_template.format(passages=block, question=question)
    plan.context_tokens = count(turn) - plan.query_tokens if chosen else 0
    plan.passages = len(chosen)
    plan.messages = [SystemMessage(system), *history, HumanMessage(turn)]
    return plan
