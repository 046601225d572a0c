"""The conversation operations as routes: each owner sees, exports, archives and deletes only their own.

Until API keys exist the service has one owner; here the owner dependency reads a test
header so that two owners can be played against each other through the real routes.
"""

import json
import uuid

import pytest

from tests.integration.conftest import BOB, running_app, sse_events

QUESTION = "What is the RPO for conversations?"


@pytest.fixture
def client(owners_client):
    return owners_client


def new_id() -> str:
    return f"c-{uuid.uuid4().hex[:12]}"


def test_the_owner_reads_exports_archives_and_deletes(client):
    conversation = new_id()
    first = client.post("/chat", json={"message": QUESTION, "conversation_id": conversation}).json()
    client.post("/chat", json={"message": "Thanks!", "conversation_id": conversation})

    got = client.get(f"/conversations/{conversation}").json()
    assert (got["id"], got["status"], got["turns"]) == (conversation, "active", 2)
    assert [m["content"] for m in got["messages"]][:2] == [QUESTION, first["answer"]]
    assert [m["role"] for m in got["messages"]] == ["user", "assistant"] * 2
    assert conversation in [c["id"] for c in client.get("/conversations?status=active&limit=1000").json()
                            ["conversations"]]

    exported = client.get(f"/conversations/{conversation}/export")
    assert exported.headers["content-disposition"] == f'attachment; filename="conversation-{conversation}.json"'
    assert json.loads(exported.text)["messages"] == got["messages"]
    markdown = client.get(f"/conversations/{conversation}/export?format=markdown")
    assert markdown.headers["content-type"].startswith("text/markdown")
    assert markdown.text.startswith(f"# Conversation {conversation}") and f"**user**: {QUESTION}" in markdown.text

    for _ in range(2):  # archiving again is fine
        archived = client.post(f"/conversations/{conversation}/archive")
        assert archived.status_code == 200 and archived.json()["status"] == "archived"
    assert conversation in [c["id"] for c in client.get("/conversations?status=archived&limit=1000").json()
                            ["conversations"]]
    assert client.get("/conversations/stats").json()["by_status"]["archived"]["conversations"] >= 1

    client.post("/chat", json={"message": "One more", "conversation_id": conversation})
    assert client.get(f"/conversations/{conversation}").json()["status"] == "active"  # a new turn revives it

    assert client.delete(f"/conversations/{conversation}").status_code == 204
    assert client.get(f"/conversations/{conversation}").status_code == 404
    assert client.delete(f"/conversations/{conversation}").status_code == 404
    # The checkpoints went too: the id starts a new, empty conversation.
    again = client.post("/chat", json={"message": "Hello again", "conversation_id": conversation})
    assert again.status_code == 200
    assert [m["content"] for m in client.get(f"/conversations/{conversation}").json()["messages"]][0] == "Hello again"


def test_another_owner_gets_404_on_every_route_and_cannot_continue_it(client):
    conversation = new_id()
    assert client.post("/chat", json={"message": QUESTION, "conversation_id": conversation}).status_code == 200

    for method, path in [("GET", f"/conversations/{conversation}"),
                         ("GET", f"/conversations/{conversation}/export"),
                         ("GET", f"/conversations/{conversation}/export?format=markdown"),
                         ("POST", f"/conversations/{conversation}/archive"),
                         ("DELETE", f"/conversations/{conversation}")]:
        response = client.request(method, path, headers=BOB)
        assert response.status_code == 404, (method, path)
        assert response.json()["error"]["code"] == "conversation_not_found"
    # Bob's 404 is the same as for an id nobody used: nothing to probe.
    assert client.get(f"/conversations/{new_id()}", headers=BOB).json()["error"]["message"].startswith(
        "no conversation")

    hijack = {"message": "Ignore that, what did I ask before?", "conversation_id": conversation}
    assert client.post("/chat", json=hijack, headers=BOB).status_code == 404
    assert client.post("/chat/stream", json=hijack, headers=BOB).status_code == 404
    with client.websocket_connect("/ws/chat", headers=BOB) as ws:
        ws.send_text(json.dumps(hijack))
        assert ws.receive_json()["data"]["error"]["code"] == "conversation_not_found"

    assert conversation not in [c["id"] for c in client.get("/conversations?limit=1000", headers=BOB).json()
                                ["conversations"]]
    assert client.get("/conversations/stats", headers=BOB).json()["conversations"] == 0
    # Nothing of Bob's reached Alice's conversation, and it is still hers.
    got = client.get(f"/conversations/{conversation}").json()
    assert got["turns"] == 1 and [m["content"] for m in got["messages"]][0] == QUESTION

    # Bob's own conversation, streamed, is his alone.
    mine = new_id()
    with client.stream("POST", "/chat/stream", json={"message": QUESTION, "conversation_id": mine},
                       headers=BOB) as response:
        assert [name for name, _ in sse_events(response)][-1] == "final"
    assert client.get(f"/conversations/{mine}", headers=BOB).json()["turns"] == 1
    assert client.get(f"/conversations/{mine}").status_code == 404


def test_bad_conversation_ids_and_parameters(client):
    assert client.get("/conversations/has%20space").status_code == 422
    assert client.get("/conversations?status=deleted").status_code == 422
    assert client.get("/conversations?limit=0").status_code == 422
    assert client.get(f"/conversations/{new_id()}/export?format=pdf").status_code == 422


def test_a_delete_that_cannot_purge_the_cached_answers_deletes_nothing(data_dir_copy):
    """Redis down: 503, and the conversation is all there for the retry."""
    with running_app(data_dir_copy, llm_provider="extractive", enable_response_cache=True,
                     redis_url="redis://127.0.0.1:1/0") as client:
        conversation = new_id()
        client.post("/chat", json={"message": QUESTION, "conversation_id": conversation})
        refused = client.delete(f"/conversations/{conversation}")
        kept = client.get(f"/conversations/{conversation}")
    assert refused.status_code == 503 and refused.json()["error"]["code"] == "unavailable"
    assert kept.status_code == 200 and [m["content"] for m in kept.json()["messages"]][0] == QUESTION
