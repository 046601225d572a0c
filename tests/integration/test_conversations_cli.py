"""The runbook's conversation operations, on SQLite and on PostgreSQL."""

import json
import uuid

import pytest
from typer.testing import CliRunner

from app.cli import cli
from tests.integration.conftest import running_app


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, monkeypatch, data_dir_copy):
    monkeypatch.setenv("DATA_DIR", str(data_dir_copy))
    if request.param == "postgresql":
        url = request.getfixturevalue("postgres_url")
        monkeypatch.setenv("DATABASE_URL", url)
        return {"database_url": url}
    return {}


def run(*args, code=0):
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == code, result.output
    return result.output


def test_get_export_list_archive_delete_and_stats(data_dir_copy, database):
    ids = [f"conv-{uuid.uuid4().hex[:8]}" for _ in range(2)]
    with running_app(data_dir_copy, llm_provider="extractive", **database) as client:
        for conversation in ids:
            client.post("/chat", json={"message": "What is the RPO for conversations?", "conversation_id": conversation})
        client.post("/chat", json={"message": "Thanks!", "conversation_id": ids[0]})

    out = run("conversations", "get", ids[0])
    assert out.startswith(f"Conversation: {ids[0]} (active, 2 turns")
    assert "user: What is the RPO for conversations?" in out and "user: Thanks!" in out
    exported = json.loads(run("conversations", "export", ids[0], "--format", "json"))
    assert exported["turns"] == 2 and [m["role"] for m in exported["messages"]] == ["user", "assistant"] * 2
    assert run("conversations", "export", ids[1], "--format", "markdown").startswith(f"# Conversation {ids[1]}")
    listed = run("conversations", "list", "--status", "active", "--limit", "100")
    assert all(conversation in listed for conversation in ids)

    assert int(run("conversations", "archive", "--older-than", "0").split()[1]) >= 2
    assert run("conversations", "archive", "--older-than", "0").startswith("archived 0")  # safe to re-run
    assert all(c in run("conversations", "list", "--status", "archived", "--limit", "1000") for c in ids)
    assert "archived:" in run("conversations", "stats")

    assert int(run("conversations", "delete", "--status", "archived", "--older-than", "0").split()[1]) >= 2
    assert run("conversations", "delete", "--older-than", "0").startswith("deleted 0")
    assert "no conversation" in run("conversations", "get", ids[0], code=1)  # checkpoints gone too
    assert "--status must be one of" in run("conversations", "list", "--status", "gone", code=2)


def test_a_days_conversation_metrics(data_dir_copy, monkeypatch):
    monkeypatch.setenv("DATA_DIR", str(data_dir_copy))
    with running_app(data_dir_copy, llm_provider="extractive") as client:
        answers = [client.post("/chat", json={"message": "What is the RPO for conversations?",
                                              "conversation_id": f"m-{n}"}).json() for n in range(2)]
        client.post("/chat", json={"message": "How often do backups run?", "conversation_id": "m-0"})
        client.post("/feedback", json={"conversation_id": "m-0", "message_id": answers[0]["message_id"], "rating": 1})
        client.post("/feedback", json={"conversation_id": "m-1", "message_id": answers[1]["message_id"],
                                       "rating": -1})
    out = run("conversations", "metrics")
    assert "Conversations started: 2; with a model answer: 2" in out
    assert "Model answers: 3 (0 calls retried, failed or interrupted)" in out
    assert "Model latency: p50" in out and "Ratings: 2, 50% helpful" in out
    quiet = run("conversations", "metrics", "--date", "2001-01-01")
    assert "Conversations started: 0; with a model answer: 0" in quiet and "Ratings: none" in quiet
    assert "YYYY-MM-DD" in run("conversations", "metrics", "--date", "yesterday", code=2)
