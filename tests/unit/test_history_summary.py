"""HISTORY_SUMMARY: what leaves the history window is summarised, after the answer, never twice."""

import asyncio

import pytest
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.checkpoint.memory import InMemorySaver
from pydantic import Field

from app.access.keys import LOCAL_PRINCIPAL
from app.chat.events import FinalEvent
from app.chat.turn import Chat, Turn
from app.conversations.locks import LocalTurnLocks
from app.conversations.registry import ConversationRegistry
from app.llm.extractive import ExtractiveChatModel
from app.llm.gate import LocalModelGate
from graphs.budget import plan_turn
from graphs.builder import build_graph
from graphs.context import ChatDependencies
from graphs.state import STATE_KEYS
from graphs.summary import fold_until
from tests.fakes import ScriptedChatModel
from tools.registry import ToolRegistry


def count(text: str) -> int:
    return len(text) // 4 + 1


def is_summary_prompt(messages) -> bool:
    return str(messages[-1].content).endswith("\nSummary:")


class Summariser(ScriptedChatModel):
    """Answers questions; asked to summarise, says which summary this is and what it read."""

    summary_prompts: list[str] = Field(default_factory=list)
    fail_summaries: bool = False
    gate: asyncio.Event | None = None  # when set, summaries wait for it

    def _next(self, messages):
        prompt = str(messages[-1].content)
        if is_summary_prompt(messages):
            if self.fail_summaries:
                raise RuntimeError("summary failed")
            self.summary_prompts.append(prompt)
            return f"SUMMARY-{len(self.summary_prompts)}", []
        return super()._next(messages)

    async def _wait(self, messages):
        if self.gate is not None and is_summary_prompt(messages):
            await self.gate.wait()

    async def _agenerate(self, messages, stop=None, run_manager=None, **kwargs):
        await self._wait(messages)
        return self._generate(messages, stop, run_manager, **kwargs)

    async def _astream(self, messages, stop=None, run_manager=None, **kwargs):
        await self._wait(messages)
        for chunk in self._stream(messages, stop, run_manager, **kwargs):
            yield chunk


def graph_for(model, retriever, router, **kw):
    chain = model.with_fallbacks([ExtractiveChatModel()])
    deps = ChatDependencies(retriever=retriever, chat_model=chain, router=router, tools=ToolRegistry.from_modules(),
                            count_tokens=count, max_context_tokens=1024, answer_tokens=128, max_history_messages=4,
                            summarize_history=True, **kw)
    return build_graph(deps, InMemorySaver())


@pytest.fixture(scope="module")
def retriever(tmp_path_factory, embeddings):
    from app.retrieval import EmbeddedVectorStore, HybridRetriever

    store = EmbeddedVectorStore(tmp_path_factory.mktemp("s") / "i.sqlite", embeddings)
    store.add_texts(["Lambda container images may be up to 10 GB."], [{"document_id": "lambda", "title": "Lambda"}],
                    ids=["lambda"])
    return HybridRetriever(store=store, k=1)


@pytest.fixture(scope="module")
def router(embeddings):
    import prompts
    from graphs.routing import EmbeddingRouter

    return EmbeddingRouter(embeddings, prompts.route_examples(), {t.name: t.examples for t in ToolRegistry.from_modules()})


async def turn(graph, text, thread="s"):
    return await graph.ainvoke({"messages": [HumanMessage(text)]}, {"configurable": {"thread_id": thread}},
                               output_keys=list(STATE_KEYS))


async def test_messages_leaving_the_window_are_summarised_once_in_order(retriever, router):
    model = Summariser(replies=["Images may be up to 10 GB [1]."])
    graph = graph_for(model, retriever, router)
    for n in range(6):
        out = await turn(graph, f"Lambda question {n}: how big can an image be?")
    # Four messages stay verbatim (MAX_HISTORY_MESSAGES); the 8 before them are summarised.
    assert out["summarized"] == 8 and out["summary"] == f"SUMMARY-{len(model.summary_prompts)}"
    folded = "\n".join(model.summary_prompts)
    for n in range(4):  # each folded question went into exactly one summary call, oldest first
        assert folded.count(f"User: Lambda question {n}:") == 1
    assert folded.index("question 0") < folded.index("question 3")
    assert "question 4" not in folded
    assert f"Earlier: SUMMARY-{len(model.summary_prompts) - 1}\nUser:" in model.summary_prompts[-1]
    assert "Earlier:" not in model.summary_prompts[0]

    last_prompt = model.prompts[-1]  # the sixth answer's prompt
    assert "Summary of the earlier conversation: SUMMARY-" in last_prompt[0].content
    history = [str(m.content) for m in last_prompt[1:-1]]
    # The window covers only what the summary does not: nothing is said twice.
    assert history and not any("question 0" in h or "question 1" in h for h in history)


async def test_the_summary_is_written_after_the_answer_reaches_the_client(retriever, router, tmp_path):
    gate = asyncio.Event()
    model = Summariser(replies=["Images may be up to 10 GB [1]."], gate=gate)
    graph = graph_for(model, retriever, router)
    for n in range(2):
        gate.set()
        await turn(graph, f"Lambda question {n}?", thread="late")
    assert model.summary_prompts == []  # four messages still fit the verbatim window
    gate.clear()  # the third turn's summary waits until the client has its answer
    events, summaries_at_final = [], None

    chat = Chat(graph, registry=ConversationRegistry(f"sqlite:///{tmp_path / 'c.sqlite'}"),
                gate=LocalModelGate(None, 8), locks=LocalTurnLocks(), max_message_chars=4000)

    async def consume():
        nonlocal summaries_at_final
        async for event in await chat.open(Turn.ask(LOCAL_PRINCIPAL, "Lambda question 2?", "late")):
            events.append(event.name)
            if isinstance(event, FinalEvent):
                summaries_at_final = len(model.summary_prompts)
                gate.set()

    await asyncio.wait_for(consume(), timeout=30)  # a final sent after the summary would never come
    assert events[-1] == "final" and "error" not in events and summaries_at_final == 0
    state = (await graph.aget_state({"configurable": {"thread_id": "late"}})).values
    assert state["summarized"] > 0


async def test_a_failed_summary_keeps_the_old_one_and_the_next_turn_catches_up(retriever, router):
    model = Summariser(replies=["Images may be up to 10 GB [1]."], fail_summaries=True)
    graph = graph_for(model, retriever, router)
    for n in range(4):
        out = await turn(graph, f"Lambda question {n}?", thread="f")
    assert out["answer"].startswith("Images") and "summary" not in out  # answered; no summary written
    model.fail_summaries = False
    out = await turn(graph, "Lambda question 4?", thread="f")
    assert out["summarized"] == 6 and "User: Lambda question 0?" in model.summary_prompts[0]


def test_with_a_summary_the_window_slides_over_the_rest_and_everything_fits():
    earlier = []
    for n in range(30):
        earlier += [HumanMessage(f"question {n} " + "words " * 40), AIMessage(f"answer {n} " + "more " * 40)]
    plan = plan_turn(system="You are helpful.", earlier=earlier, turn_template="{question}", question="Next?",
                     passages=[], count=count, max_context_tokens=1024, answer_tokens=128, max_history_messages=50,
                     max_passages=None, summary="long summary " * 500, summarized=40)
    assert plan.total_tokens <= plan.window
    assert plan.history_summarized == 40 and 0 < plan.summary_tokens <= plan.window // 4 + 16
    assert plan.history_kept + plan.history_dropped == 20
    assert all("question 1 " not in str(m.content) for m in plan.messages[1:-1])
    assert plan.messages[0].content.startswith("You are helpful.\n\nSummary of the earlier conversation: long")


def test_fold_until_keeps_the_newest_messages_verbatim():
    messages = [HumanMessage("q"), AIMessage("a")] * 5
    assert fold_until(messages, 0, keep_budget=1000, max_messages=4, count=count) == 6
    assert fold_until(messages, 6, keep_budget=1000, max_messages=4, count=count) == 6  # nothing new to fold
    assert fold_until(messages, 0, keep_budget=1000, max_messages=20, count=count) == 0
