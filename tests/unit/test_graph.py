"""The graph's nodes and edges with scripted chat models, a real router and a small real index."""

import pytest
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.checkpoint.memory import InMemorySaver

import prompts
from app.llm.extractive import ExtractiveChatModel
from app.retrieval import EmbeddedVectorStore, HybridRetriever
from graphs.builder import build_graph
from graphs.context import ChatDependencies
from graphs.edges import after_guard_input, after_route
from graphs.nodes import build_prompt, guard_input
from graphs.routing import EmbeddingRouter
from graphs.state import STATE_KEYS
from tests.fakes import ScriptedChatModel
from tools.registry import ToolRegistry

TEXTS = {
    "lambda": "Lambda container images may be up to 10 GB. Cold starts take 2 to 6 seconds.",
    "backups": "Conversations are backed up every 5 minutes, so the RPO is 5 minutes.",
    "k8s": "Roll back a Kubernetes deployment with kubectl rollout undo deployment/model-server.",
}


@pytest.fixture(scope="module")
def retriever(tmp_path_factory, embeddings):
    store = EmbeddedVectorStore(tmp_path_factory.mktemp("g") / "i.sqlite", embeddings)
    store.add_texts(list(TEXTS.values()), [{"document_id": k, "title": k.title()} for k in TEXTS], ids=list(TEXTS))
    return HybridRetriever(store=store, k=2)


@pytest.fixture(scope="module")
def router(embeddings):
    tools = ToolRegistry.from_modules()
    return EmbeddingRouter(embeddings, prompts.route_examples(), {t.name: t.examples for t in tools})


def deps(retriever, router, model, **kw):
    chain = model.with_fallbacks([ExtractiveChatModel()]) if not isinstance(model, ExtractiveChatModel) else model
    return ChatDependencies(retriever=retriever, chat_model=chain, router=router,
                            tools=ToolRegistry.from_modules(), **kw)


async def ask(graph, text, thread="t"):
    """The whole state after a turn (the public output leaves the passages out)."""
    return await graph.ainvoke({"messages": [HumanMessage(text)]}, {"configurable": {"thread_id": thread}},
                               output_keys=list(STATE_KEYS))


async def test_knowledge_question_is_retrieved_answered_and_cited(retriever, router):
    model = ScriptedChatModel(replies=["Images may be up to 10 GB [1]."])
    out = await ask(build_graph(deps(retriever, router, model), InMemorySaver()), "How big can a Lambda image be?")
    assert out["route"] == "knowledge"
    assert out["answer"] == "Images may be up to 10 GB [1]."
    assert out["sources"][0]["document_id"] == "lambda"
    prompt = model.prompts[0][-1].content
    assert "[1] Lambda" in prompt and "Question: How big can a Lambda image be?" in prompt


async def test_tool_request_runs_the_tool_and_answers_with_its_result(retriever, router):
    model = ScriptedChatModel()
    out = await ask(build_graph(deps(retriever, router, model)), "What is 17 * 23?")
    assert out["route"] == "tool" and out["tool_result"]["result"]["value"] == 391
    assert out["answer"] == "17 * 23 = 391" and model.prompts == []  # no model restates it


async def test_tool_calling_models_choose_the_tool_themselves(retriever, router):
    model = ScriptedChatModel(replies=["", "The result is 84."],
                              tool_calls=[[{"name": "calculate", "args": {"expression": "(3+4)*12"}}], []])
    out = await ask(build_graph(deps(retriever, router, model, tool_calling_model=model)), "seven times twelve, plus...")
    assert out["tool_call"] == {"name": "calculate", "args": {"expression": "(3+4)*12"}}
    assert out["answer"] == "The result is 84."
    assert "84" in model.prompts[1][-1].content  # generate saw the tool's result


async def test_small_talk_gets_a_direct_reply_without_retrieval(retriever, router):
    model = ScriptedChatModel(replies=["Hello! How can I help?"])
    out = await ask(build_graph(deps(retriever, router, model)), "Hi there!")
    assert out["route"] == "direct" and out["documents"] == [] and out["sources"] == []


async def test_a_failing_model_falls_back_to_a_degraded_extractive_answer(retriever, router, embeddings):
    out = await ask(build_graph(deps(retriever, router, ScriptedChatModel(fail=True))), "What is the RPO for conversations?")
    assert out["provider"] == "extractive" and out["degraded"] is True
    assert "5 minutes" in out["answer"] and out["sources"][0]["document_id"] == "backups"


async def test_second_turn_sees_the_first(retriever, router):
    model = ScriptedChatModel(replies=["Up to 10 GB [1].", "Cold starts take 2 to 6 seconds [1]."])
    graph = build_graph(deps(retriever, router, model), InMemorySaver())
    await ask(graph, "How big can a Lambda image be?", thread="c1")
    out = await ask(graph, "And how long do Lambda cold starts take?", thread="c1")
    history = [m.content for m in model.prompts[1][1:-1]]
    assert history == ["How big can a Lambda image be?", "Up to 10 GB [1]."]
    assert [type(m) for m in out["messages"]] == [HumanMessage, AIMessage, HumanMessage, AIMessage]
    other = await ask(graph, "Hello", thread="c2")
    assert len(other["messages"]) == 2  # threads do not share history


async def test_history_is_limited_to_max_history_messages(retriever, router):
    model = ScriptedChatModel(replies=["ok [1]."])
    graph = build_graph(deps(retriever, router, model, max_history_messages=2), InMemorySaver())
    for n in range(4):
        await ask(graph, f"Lambda question number {n}?", thread="long")
    last_prompt = model.prompts[-1]
    assert [m.content for m in last_prompt[1:-1]] == ["Lambda question number 2?", "ok [1]."]


async def test_passages_are_cut_by_rank_to_fit_the_context_budget(retriever, router):
    d = deps(retriever, router, ScriptedChatModel(), max_context_tokens=400, answer_tokens=100,
             count_tokens=lambda text: len(text.split()))
    docs = await retriever.ainvoke("Lambda image size")
    state = {"messages": [HumanMessage("Lambda image size")], "route": "knowledge", "documents": docs * 20}
    prompt = build_prompt(state, d)
    total = sum(len(str(m.content).split()) for m in prompt)
    assert total <= 400 - 100
    assert prompts.parse_passages(prompt[-1].content)[0].index == 1


@pytest.mark.parametrize(("text", "reason"), [("   ", "empty_message"), ("x" * 5000, "message_too_long")])
async def test_guard_input_refuses_empty_and_oversized_messages(retriever, router, text, reason):
    update = await guard_input({"messages": [HumanMessage(text)]}, deps(retriever, router, ScriptedChatModel()))
    assert update["route"] == "blocked" and update["blocked_reason"] == reason
    assert after_guard_input(update) == "__end__"


def test_edges_name_the_next_node():
    assert after_guard_input({"route": None}) == "route"
    assert [after_route({"route": r}) for r in ("knowledge", "tool", "direct")] == ["retrieve", "call_tool", "generate"]


async def test_a_model_reads_at_most_max_passages(retriever, router):
    d = deps(retriever, router, ScriptedChatModel(), max_passages=1)
    docs = await retriever.ainvoke("Lambda image size")
    prompt = build_prompt({"messages": [HumanMessage("Lambda image size")], "route": "knowledge", "documents": docs}, d)
    assert [p.index for p in prompts.parse_passages(prompt[-1].content)] == [1]


async def test_generate_streams_the_models_tokens_through_the_graph(retriever, router):
    """LangChain's own fake chat model, streamed as `{"token"}` custom events as the gateway
    reads them; LangGraph's `messages` mode (what `langgraph dev` clients read) carries none
    of the raw tokens, and the streamed text never holds what the output guard masks."""
    import itertools

    from langchain_core.language_models import GenericFakeChatModel

    answer = ("Lambda images may be up to 10 GB [1]. Ask ops@internal.example.com for a larger quota; "
              "they answer within a day, and the request needs the account id and the function name [1].")
    model = GenericFakeChatModel(messages=itertools.repeat(AIMessage(content=answer)))
    graph = build_graph(deps(retriever, router, model))
    tokens, raw_tokens = [], []
    async for mode, payload in graph.astream({"messages": [HumanMessage("How big can a Lambda image be?")]},
                                             stream_mode=["custom", "messages"]):
        if mode == "custom" and "token" in payload:
            tokens.append(payload["token"])
        elif mode == "messages" and payload[1]["langgraph_node"] == "generate" and payload[0].content:
            raw_tokens.append(payload[0].content)
    assert len(tokens) > 3 and raw_tokens == []
    assert "".join(tokens) == answer.replace("ops@internal.example.com", "[EMAIL]")


async def test_a_question_naming_a_document_is_answered_from_that_document(retriever, router):
    model = ScriptedChatModel(replies=["From the backups page [1]."])
    d = deps(retriever, router, model, named_documents=lambda q: ["backups"] if "backups page" in q else [])
    out = await ask(build_graph(d), "On the backups page: how big can a Lambda image be?")
    assert {doc.metadata["document_id"] for doc in out["documents"]} == {"backups"}
    out = await ask(build_graph(d), "How big can a Lambda image be?")
    assert out["documents"][0].metadata["document_id"] == "lambda"


async def test_a_citation_of_a_passage_the_model_never_read_is_dropped(retriever, router):
    model = ScriptedChatModel(replies=["Images may be up to 10 GB [1][2]."])
    out = await ask(build_graph(deps(retriever, router, model, max_passages=1)), "How big can a Lambda image be?")
    assert len(out["documents"]) == 2 and out["passages_shown"] == 1
    assert out["answer"] == "Images may be up to 10 GB [1]." and [s["index"] for s in out["sources"]] == [1]
