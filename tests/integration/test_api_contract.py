"""The gateway's contract on the real index, with the extractive provider; memory on SQLite and PostgreSQL."""

import uuid

import pytest

from tests.integration.conftest import running_app, sse_events


def test_chat_answers_with_sources_route_and_usage(extractive_client):
    body = extractive_client.post("/chat", json={"message": "What is the RPO for conversations?"}).json()
    assert body["route"] == "knowledge" and body["provider"] == "extractive" and body["degraded"] is True
    assert len(body["conversation_id"]) == 32
    assert "backup-and-disaster-recovery" in [s["document_id"] for s in body["sources"]]
    assert {"index", "document_id", "title", "score"} <= body["sources"][0].keys()
    assert body["usage"]["total_tokens"] > 0


def test_the_runbook_request_body_works_as_written(extractive_client):
    response = extractive_client.post("/chat", json={"message": "Hello", "conversation_id": "test"})
    assert response.status_code == 200
    assert response.json()["conversation_id"] == "test" and response.json()["route"] == "direct"


def test_tool_route_over_http(extractive_client):
    body = extractive_client.post("/chat", json={"message": "What is 48 times 12?"}).json()
    assert body["route"] == "tool" and body["answer"] == "48 * 12 = 576"
    assert body["tool"]["ok"] is True


def error_of(response):
    return response.status_code, response.json()["error"]["code"]


def test_bad_input_gets_clear_json_errors_and_the_service_keeps_serving(extractive_client):
    client = extractive_client
    assert error_of(client.post("/chat", json={"message": ""})) == (422, "empty_message")
    assert error_of(client.post("/chat", json={"message": "   "})) == (422, "empty_message")
    assert error_of(client.post("/chat", json={"message": "x" * 5000})) == (422, "message_too_long")
    assert error_of(client.post("/chat", json={"message": "x" * (1024 * 1024)})) == (413, "payload_too_large")
    assert error_of(client.post("/chat", content=b'{"message": "hi",', headers={"content-type": "application/json"})) == (400, "malformed_json")
    assert error_of(client.post("/chat", json={"message": "hi", "conversation_id": "../../etc/passwd"})) == (422, "invalid_conversation_id")
    assert error_of(client.post("/chat", json={"message": "hi", "conversation_id": "x" * 65})) == (422, "invalid_conversation_id")
    assert error_of(client.post("/chat", json={"msg": "hi"})) == (422, "validation_error")
    assert error_of(client.get("/nowhere")) == (404, "not_found")
    for response in (client.post("/chat", json={"message": ""}), client.get("/nowhere")):
        assert set(response.json()["error"]) == {"code", "message", "details"}
    assert client.post("/chat", json={"message": "What is the RPO for conversations?"}).status_code == 200
    assert client.get("/health").status_code == 200


def test_a_chunked_oversized_body_is_refused_too(extractive_client):
    def chunks():
        for _ in range(100):
            yield b"x" * 1024

    response = extractive_client.post("/chat", content=chunks(), headers={"content-type": "application/json"})
    assert error_of(response) == (413, "payload_too_large")


def test_health_reports_each_component(extractive_client):
    body = extractive_client.get("/health").json()
    assert body["status"] == "ok"
    assert set(body["components"]) == {"model", "vector_store", "checkpointer", "database"}
    assert body["components"]["vector_store"]["chunks"] > 100


def test_health_is_503_when_a_component_is_down(extractive_client):
    services = extractive_client.app.state.chatbot.services
    services.store.close()  # the index's database goes away under the running service
    response = extractive_client.get("/health")
    assert response.status_code == 503
    assert response.json()["components"]["vector_store"]["status"] == "down"
    assert response.json()["components"]["checkpointer"]["status"] == "ok"


def test_stream_and_websocket_carry_the_same_events(extractive_client):
    question = {"message": "How long are conversations kept before they are archived?"}
    with extractive_client.stream("POST", "/chat/stream", json=question) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        streamed = sse_events(response)
    with extractive_client.websocket_connect("/ws/chat") as ws:
        ws.send_json(question)
        frames = []
        while not frames or frames[-1]["event"] not in ("final", "error"):
            frames.append(ws.receive_json())
    for events in ([e for e, _ in streamed], [f["event"] for f in frames]):
        assert events[0] == "metadata" and events[-2:] == ["sources", "final"]
        assert events.count("token") > 1
    assert streamed[-1][1]["answer"] == frames[-1]["data"]["answer"]
    tokens = "".join(d["text"] for e, d in streamed if e == "token")
    assert streamed[-1][1]["answer"].startswith(tokens.strip()[:40])


def test_websocket_reports_bad_frames_and_stays_open(extractive_client):
    with extractive_client.websocket_connect("/ws/chat") as ws:
        ws.send_text("{not json")
        assert ws.receive_json()["data"]["error"]["code"] == "malformed_json"
        ws.send_json({"message": ""})
        assert ws.receive_json()["data"]["error"]["code"] == "empty_message"
        ws.send_json({"message": "Hi", "conversation_id": "ws-1"})
        events = []
        while not events or events[-1]["event"] != "final":
            events.append(ws.receive_json())
        assert events[-1]["data"]["conversation_id"] == "ws-1"


def conversation_messages(client, conversation_id):
    """The checkpointed messages, read on the app's own event loop."""
    graph = client.app.state.chatbot.graph
    snapshot = client.portal.call(graph.aget_state, {"configurable": {"thread_id": conversation_id}})
    return [m.content for m in snapshot.values.get("messages", [])]


@pytest.fixture(params=["sqlite", "postgresql"])
def memory(request):
    """The same memory tests on SQLite (the default) and on this machine's PostgreSQL."""
    if request.param == "sqlite":
        return {}
    return {"database_url": request.getfixturevalue("postgres_url")}


def test_conversation_survives_a_restart(data_dir_copy, memory):
    conversation = f"keep-{uuid.uuid4().hex[:8]}"
    with running_app(data_dir_copy, llm_provider="extractive", **memory) as client:
        first = client.post("/chat", json={"message": "What is the RPO for conversations?",
                                           "conversation_id": conversation}).json()
        assert client.get("/health").json()["components"]["checkpointer"]["backend"] == (
            "postgresql" if memory else "sqlite")
    with running_app(data_dir_copy, llm_provider="extractive", **memory) as client:
        client.post("/chat", json={"message": "Hello again", "conversation_id": conversation})
        messages = conversation_messages(client, conversation)
    assert messages[:2] == ["What is the RPO for conversations?", first["answer"]]
    assert messages[2] == "Hello again" and len(messages) == 4


def test_concurrent_turns_of_one_conversation_are_serialized(data_dir_copy, memory):
    """Both turns land in the history, each after the other, none lost or interleaved."""
    import asyncio

    from app.access.keys import LOCAL_PRINCIPAL
    from app.chat.turn import Turn

    conversation = f"race-{uuid.uuid4().hex[:8]}"
    with running_app(data_dir_copy, llm_provider="extractive", **memory) as client:
        chat = client.app.state.chatbot.chat

        async def two_turns():
            await asyncio.gather(
                chat.run(Turn.ask(LOCAL_PRINCIPAL, "What is the RPO for conversations?", conversation)),
                chat.run(Turn.ask(LOCAL_PRINCIPAL, "How long are conversations kept?", conversation)),
            )

        client.portal.call(two_turns)
        messages = conversation_messages(client, conversation)
    assert len(messages) == 4
    assert {messages[0], messages[2]} == {"What is the RPO for conversations?", "How long are conversations kept?"}


def test_the_running_service_follows_an_alias_swap(extractive_client):
    """A rebuilt index goes live for a running service the moment its alias is swapped."""
    from app.retrieval import EmbeddedVectorStore, IndexCatalog

    services = extractive_client.app.state.chatbot.services
    catalog = IndexCatalog(services.settings.index_dir)
    fresh = EmbeddedVectorStore(catalog.path("knowledge-base-v2"), services.embeddings)
    fresh.add_texts(["Zebra releases ship on Thursdays after the change board meets."],
                    [{"document_id": "zebra-policy", "title": "Zebra release policy"}])
    question = {"message": "When do zebra releases ship?"}
    before = extractive_client.post("/chat", json=question).json()
    assert "zebra-policy" not in [s["document_id"] for s in before["sources"]]
    catalog.swap("knowledge-base", "knowledge-base-v2")
    after = extractive_client.post("/chat", json=question).json()
    assert [s["document_id"] for s in after["sources"]] == ["zebra-policy"]
    assert extractive_client.get("/health").json()["components"]["vector_store"]["chunks"] == 1
