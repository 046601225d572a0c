"""`POST /feedback` through the real app and store (SQLite and PostgreSQL), then exported as a dataset."""

import json
import uuid

import pytest
from typer.testing import CliRunner

from app.cli import cli
from tests.integration.conftest import BOB

QUESTION = "What is the RPO for conversations?"


@pytest.fixture
def client(owners_client):
    return owners_client


def _ask(client) -> dict:
    conversation = f"c-{uuid.uuid4().hex[:12]}"
    reply = client.post("/chat", json={"message": QUESTION, "conversation_id": conversation})
    assert reply.status_code == 200, reply.text
    return reply.json()


def test_a_rating_is_stored_with_the_question_answer_and_citations(client):
    answer = _ask(client)
    assert answer["message_id"].startswith("msg-")
    # The conversation lists the answer under the same id.
    messages = client.get(f"/conversations/{answer['conversation_id']}").json()["messages"]
    assert [m["id"] for m in messages if m["role"] == "assistant"] == [answer["message_id"]]

    body = {"conversation_id": answer["conversation_id"], "message_id": answer["message_id"], "rating": -1,
            "comment": "too vague"}
    stored = client.post("/feedback", json=body)
    assert stored.status_code == 201, stored.text
    record = stored.json()
    assert record["question"] == QUESTION and record["answer"] == answer["answer"]
    assert record["cited"] == [s["document_id"] for s in answer["sources"]] and record["cited"]
    # Rating again replaces the rating: one per answer and owner.
    again = client.post("/feedback", json={**body, "rating": 1, "comment": None})
    assert again.status_code == 201 and again.json()["rating"] == 1
    rows = [r for r in client.app.state.chatbot.services.feedback.list() if r["conversation_id"] == answer["conversation_id"]]
    assert [(r["message_id"], r["rating"], r["comment"]) for r in rows] == [(answer["message_id"], 1, None)]


def test_feedback_on_what_is_not_yours_or_not_there_is_refused(client):
    answer = _ask(client)
    body = {"conversation_id": answer["conversation_id"], "message_id": answer["message_id"], "rating": 1}
    # Another owner cannot tell the conversation exists.
    theirs = client.post("/feedback", json=body, headers=BOB)
    assert theirs.status_code == 404 and theirs.json()["error"]["code"] == "conversation_not_found"
    unknown = client.post("/feedback", json={**body, "message_id": "msg-0000"})
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "message_not_found"
    for bad in ({**body, "rating": 5}, {**body, "comment": "x" * 2001}, {**body, "extra": 1},
                {k: v for k, v in body.items() if k != "message_id"}):
        refused = client.post("/feedback", json=bad)
        assert refused.status_code == 422 and refused.json()["error"]["code"] == "validation_error"
    # A user's own question is not an answer to rate.
    question_id = next(m["id"] for m in client.get(f"/conversations/{answer['conversation_id']}").json()["messages"]
                       if m["role"] == "user")
    assert client.post("/feedback", json={**body, "message_id": question_id}).status_code == 404
    stored = client.app.state.chatbot.services.feedback.list()
    assert not [r for r in stored if r["conversation_id"] == answer["conversation_id"]]


def test_export_feedback_writes_a_dataset_of_the_ratings(client, tmp_path, monkeypatch):
    earlier = client.app.state.chatbot.services.feedback.list()  # PostgreSQL's database is the session's
    helpful, unhelpful = _ask(client), _ask(client)
    for answer, rating in ((helpful, 1), (unhelpful, -1)):
        client.post("/feedback", json={"conversation_id": answer["conversation_id"],
                                       "message_id": answer["message_id"], "rating": rating})
    monkeypatch.setenv("DATA_DIR", str(client.app.state.chatbot.services.settings.data_dir))
    if database_url := client.app.state.chatbot.services.settings.database_url:
        monkeypatch.setenv("DATABASE_URL", database_url)
    output = tmp_path / "feedback.jsonl"
    result = CliRunner().invoke(cli, ["eval", "export-feedback", "--output", str(output)])
    assert result.exit_code == 0, result.output
    helpful_before = sum(1 for r in earlier if r["rating"] > 0)
    assert (f"{len(earlier) + 2} ratings ({helpful_before + 1} helpful, {len(earlier) - helpful_before + 1} to review)"
            in result.output)
    rows = [json.loads(line) for line in output.read_text().splitlines()]
    by_rating = {row["rating"]: row for row in rows if row["question"] == QUESTION
                 and row["answer_given"] in (helpful["answer"], unhelpful["answer"])}
    assert by_rating[1]["reference_answer"] == helpful["answer"]
    assert by_rating[1]["relevant_doc_ids"] == [s["document_id"] for s in helpful["sources"]]
    assert by_rating[-1]["reference_answer"] == "" and by_rating[-1]["answer_given"] == unhelpful["answer"]
    only_helpful = CliRunner().invoke(cli, ["eval", "export-feedback", "--output", str(output), "--rating", "helpful"])
    assert only_helpful.exit_code == 0 and len(output.read_text().splitlines()) == helpful_before + 1


def test_deleting_the_conversation_removes_the_feedback_text_and_keeps_the_rating(client):
    from sqlalchemy import text

    from app.ledgers.database import Database

    answer = _ask(client)
    store = client.app.state.chatbot.services.feedback
    assert client.post("/feedback", json={"conversation_id": answer["conversation_id"],
                                          "message_id": answer["message_id"], "rating": -1,
                                          "comment": "wrong figure"}).status_code == 201
    before = store.summary()
    assert client.delete(f"/conversations/{answer['conversation_id']}").status_code == 204
    assert store.summary() == before  # the rating still counts
    assert answer["conversation_id"] not in {r["conversation_id"] for r in store.list()}  # nothing to export
    db = Database(client.app.state.chatbot.settings.ledger_url)
    try:
        rows = db.execute(text("SELECT rating, question, answer, comment, cited FROM feedback WHERE conversation_id = :id"),
                          {"id": answer["conversation_id"]})
    finally:
        db.close()
    assert rows == [(-1, "", "", None, "[]")]
