"""The real local model (Gemma 3 270M through llama.cpp) through the whole service."""

import pytest
from sqlalchemy import text

import prompts
from tests.integration.conftest import running_app, sse_events


@pytest.fixture(scope="module")
def local_client(tmp_path_factory, kb_data_dir):
    import shutil

    data_dir = tmp_path_factory.mktemp("local") / "data"
    shutil.copytree(kb_data_dir, data_dir)
    with running_app(data_dir, llm_provider="local") as client:
        yield client


def test_a_knowledge_base_question_is_answered_with_a_citation_of_the_right_document(local_client):
    body = local_client.post(
        "/chat", json={"message": "What is the maximum size of a Lambda container image?"}
    ).json()
    assert body["provider"] == "local" and body["degraded"] is False
    assert body["route"] == "knowledge"
    assert body["sources"] and body["sources"][0]["document_id"] == "lambda-serverless-inference"
    # What a 270M base model says is measured in bench/ (fact accuracy), not asserted here.
    assert len(body["answer"]) > 10 and body["answer"] != prompts.load("no_answer")
    assert "[" in body["answer"]  # the citation marker is in the text
    assert body["usage"]["input_tokens"] > 100 and body["usage"]["output_tokens"] > 0


def test_the_stream_yields_several_tokens_before_the_final_event(local_client):
    with local_client.stream("POST", "/chat/stream", json={"message": "How do I roll back a Kubernetes deployment?"}) as response:
        events = sse_events(response)
    names = [e for e, _ in events]
    assert names[0] == "metadata" and names[-1] == "final"
    assert names[: names.index("final")].count("token") > 1
    final = events[-1][1]
    assert final["provider"] == "local"
    streamed = "".join(d["text"] for e, d in events if e == "token").strip()
    assert final["answer"].startswith(streamed)  # the final answer only adds a citation


def test_a_second_turn_sees_the_first(local_client):
    conversation = {"conversation_id": "local-memory"}
    local_client.post("/chat", json={"message": "What is the RPO for conversations?", **conversation})
    local_client.post("/chat", json={"message": "Thanks!", **conversation})
    graph = local_client.app.state.chatbot.graph
    snapshot = local_client.portal.call(graph.aget_state, {"configurable": {"thread_id": "local-memory"}})
    contents = [m.content for m in snapshot.values["messages"]]
    assert contents[0] == "What is the RPO for conversations?" and contents[2] == "Thanks!"
    assert len(contents) == 4 and snapshot.values["route"] == "direct"


def test_a_long_conversation_never_exceeds_the_models_window(kb_data_dir, tmp_path):
    """The runbook's "context length exceeded" incident, with the real model and tokenizer:
    40 long earlier turns and 4 retrieved passages, in a 512-token window."""
    import shutil

    from langchain_core.messages import AIMessage, HumanMessage

    data_dir = tmp_path / "data"
    shutil.copytree(kb_data_dir, data_dir)
    with running_app(data_dir, llm_provider="local", max_context_length=512, max_history_messages=100) as client:
        graph = client.app.state.chatbot.graph
        config = {"configurable": {"thread_id": "long"}}
        history = []
        for n in range(40):
            history += [HumanMessage(f"Tell me about deployments, part {n}. " + "Details please. " * 30),
                        AIMessage(f"Part {n}: " + "Deployments roll out gradually with health checks. " * 12)]
        client.portal.call(graph.aupdate_state, config, {"messages": history}, "guard_output")
        body = client.post("/chat", json={"message": "How do I roll back a Kubernetes deployment?",
                                          "conversation_id": "long"}).json()
    # A prompt past the window would have failed in llama.cpp and fallen back to `extractive`.
    assert body["provider"] == "local" and body["degraded"] is False
    assert 0 < body["usage"]["input_tokens"] <= 512 - 160


def test_history_summary_with_the_real_model_keeps_the_prompt_in_the_window(kb_data_dir, tmp_path):
    """HISTORY_SUMMARY: the local model folds what leaves the window into a summary, recorded as usage."""
    import shutil

    data_dir = tmp_path / "data"
    shutil.copytree(kb_data_dir, data_dir)
    with running_app(data_dir, llm_provider="local", max_context_length=512, max_history_messages=2,
                     history_summary=True) as client:
        conversation = {"conversation_id": "summarised"}
        for question in ("What is the RPO for conversations?", "How do I roll back a Kubernetes deployment?",
                         "What is the maximum size of a Lambda container image?"):
            body = client.post("/chat", json={"message": question, **conversation}).json()
            assert body["provider"] == "local" and 0 < body["usage"]["input_tokens"] <= 512 - 160
        services = client.app.state.chatbot.services
        state = client.portal.call(client.app.state.chatbot.graph.aget_state, {"configurable": {"thread_id": "summarised"}}).values
        calls = services.ledger_db.execute(text("SELECT count(*) FROM llm_usage WHERE conversation_id = "
                                                "'summarised' AND outcome = 'answered'"))[0][0]
    # Two messages stay verbatim; the four before them went into the summary, two at a time.
    assert state["summarized"] == 4 and len(state["summary"]) > 20
    assert calls == 3 + 2  # three answers and two summaries, all in the usage ledger
