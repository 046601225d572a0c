"""The context budget: however long the conversation and large the retrieved context,
the prompt fits MAX_CONTEXT_LENGTH less the answer's tokens."""

import pytest
from langchain_core.documents import Document
from langchain_core.messages import AIMessage, HumanMessage

from graphs.budget import cut_to_tokens, fit_history
from graphs.context import ChatDependencies
from graphs.nodes import plan_prompt


def count(text: str) -> int:
    return len(text) // 4 + 1


def deps(**overrides):
    base = dict(retriever=None, chat_model=None, router=None, tools=None, count_tokens=count,
                max_context_tokens=1024, answer_tokens=128, max_history_messages=50)
    return ChatDependencies(**{**base, **overrides})


def long_conversation(turns: int, question: str) -> list:
    messages = []
    for n in range(turns):
        messages += [HumanMessage(f"question {n} " + "words " * 60), AIMessage(f"answer {n} " + "more " * 80)]
    return messages + [HumanMessage(question)]


def big_documents(n: int) -> list[Document]:
    return [Document(page_content=f"passage {k} " + "evidence " * 150, metadata={"title": f"Doc {k}"}) for k in range(n)]


@pytest.mark.parametrize("window", [512, 1024, 4096])
def test_a_long_conversation_and_a_large_context_always_fit(window):
    state = {"messages": long_conversation(40, "What does passage 0 say?"), "route": "knowledge",
             "documents": big_documents(10)}
    d = deps(max_context_tokens=window)
    plan = plan_prompt(state, d)
    prompt_tokens = sum(count(str(m.content)) + 4 for m in plan.messages)
    assert plan.total_tokens <= window - d.answer_tokens
    assert prompt_tokens <= window - d.answer_tokens + 4 * len(plan.messages)  # the estimate adds role lines
    assert plan.messages[0].type == "system" and "What does passage 0 say?" in plan.messages[-1].content
    assert plan.passages >= 1 and "[1] Doc 0" in plan.messages[-1].content  # passages by rank
    assert plan.history_dropped > 0 and plan.history_kept + plan.history_dropped == 80
    kept = plan.messages[1:-1]
    assert not kept or (kept[0].type == "human" and kept[-1].content.startswith("answer 39"))  # newest kept


def test_history_without_passages_may_use_the_whole_room():
    earlier = long_conversation(5, "x")[:-1]
    kept, spent = fit_history(earlier, budget=10_000, max_messages=4, count=count)
    assert [m.content.split()[1] for m in kept] == ["3", "3", "4", "4"] and spent > 0
    kept, _ = fit_history(earlier, budget=50, max_messages=10, count=count)
    assert kept == []  # not even one message fits: none, rather than an answer without its question


def test_a_question_longer_than_the_window_is_cut_to_fit():
    state = {"messages": [HumanMessage("why " * 3000)], "route": "knowledge", "documents": big_documents(2)}
    plan = plan_prompt(state, deps(max_context_tokens=512))
    assert plan.total_tokens <= 512 - 128
    cut = cut_to_tokens("abcdefgh" * 10, 5, count)
    assert count(cut) <= 5 and count(cut + "abcd") > 5 and "abcdefgh".startswith(cut[:8])
