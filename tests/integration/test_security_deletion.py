"""Deleting a conversation deletes every copy of its text: checkpoints, feedback copies and comments,
tool-call arguments and the cached answers it wrote; ratings, tool-call counts and usage rows stay.

Through the real app on SQLite and on PostgreSQL, then read back from the databases. The model is an
OpenAI peer: the extractive model's answers are marked degraded, and degraded answers are never cached.
"""

import random
import uuid

import pytest
from sqlalchemy import inspect, text
from typer.testing import CliRunner

from app.cli import cli
from app.ledgers.database import Database
from tests.integration.conftest import running_app
from tests.openai_peer import Peer, PeerServer

QUESTION = "What is the RPO for conversations?"


@pytest.fixture(params=["sqlite", "postgresql"])
def served(request, data_dir_copy):
    """(client, peer): the app with its response cache on, answered by an OpenAI peer."""
    peer = Peer(answer=f"Conversations have an RPO of 5 minutes [1] (answer {uuid.uuid4().hex}).")
    with PeerServer(peer) as peer:
        overrides = {"llm_provider": "openai", "llm_model": "peer-model", "openai_base_url": f"{peer.url}/v1",
                     "openai_api_key": "sk-test", "enable_response_cache": True}
        if request.param == "postgresql":
            overrides["database_url"] = request.getfixturevalue("postgres_url")
        with running_app(data_dir_copy, **overrides) as client:
            yield client, peer


def _tables(db: Database) -> list[str]:
    return inspect(db.engine).get_table_names()


def _columns(db: Database, table: str) -> list[str]:
    return [c["name"] for c in inspect(db.engine).get_columns(table)]


def _holds(row: tuple, needle: str) -> bool:
    return any(needle.encode() in bytes(v) if isinstance(v, bytes | memoryview) else needle in str(v) for v in row)


def rows_with(url: str, needles: list[str], conversation_id: str | None = None) -> list[tuple]:
    """Rows of every table of the database holding any needle: all rows, or the conversation's only
    (tables with a conversation_id or thread_id column)."""
    db = Database(url)
    found = []
    try:
        for table in _tables(db):
            where, params = "", {}
            if conversation_id is not None:
                column = next((c for c in ("conversation_id", "thread_id") if c in _columns(db, table)), None)
                if column is None:
                    continue
                where, params = f" WHERE {column} = :id", {"id": conversation_id}
            for row in db.execute(text(f'SELECT * FROM "{table}"{where}'), params or None):
                if any(_holds(row, needle) for needle in needles):
                    found.append((table, row))
    finally:
        db.close()
    return found


def _count(url: str, sql: str, params: dict) -> int:
    db = Database(url)
    try:
        return int(db.execute(text(sql), params)[0][0])
    finally:
        db.close()


def _converse(client, conversation: str, marker: str, peer: Peer | None = None) -> dict:
    """A knowledge turn, a calculator turn and a commented rating: the texts to look for."""
    first = client.post("/chat", json={"message": QUESTION, "conversation_id": conversation}).json()
    assert first["route"] == "knowledge" and first["cached"] is False
    # The embedding router sends about 1 in 40 such messages to the knowledge base: try again.
    for _attempt in range(5):
        a, b = random.randint(1000, 9999), random.randint(1000, 9999)
        if peer is not None:  # the tool-calling model chooses the calculator
            peer.tool_call = {"name": "calculate", "arguments": {"expression": f"{a} * {b}"}}
        tool = client.post("/chat", json={"message": f"Compute {a} * {b} please",
                                          "conversation_id": conversation}).json()
        if peer is not None:
            peer.tool_call = None
        if tool["route"] == "tool":
            break
    assert tool["route"] == "tool" and tool["tool"]["ok"], tool
    comment = f"too vague, see ticket {marker}"
    rated = client.post("/feedback", json={"conversation_id": conversation, "message_id": first["message_id"],
                                           "rating": -1, "comment": comment})
    assert rated.status_code == 201, rated.text
    return {"question": QUESTION, "answer": first["answer"], "comment": comment, "expression": f"{a} * {b}",
            "tool_answer": tool["answer"]}


def test_deleting_a_conversation_deletes_every_copy_of_its_text(served):
    client, peer = served
    services = client.app.state.chatbot.services
    settings = services.settings
    conversation, marker = f"del-{uuid.uuid4().hex[:12]}", uuid.uuid4().hex
    texts = _converse(client, conversation, marker, peer)
    # No other test's rows hold these (the PostgreSQL database is the session's).
    unique = [texts["comment"], texts["expression"], texts["answer"]]
    ratings = services.feedback.summary()["ratings"]
    calls = {m["tool"]: m["calls"] for m in services.tool_calls.metrics(1)}
    usage_sql = "SELECT count(*) FROM llm_usage WHERE conversation_id = :id"
    usage = _count(settings.ledger_url, usage_sql, {"id": conversation})
    assert usage > 0 and calls.get("calculate", 0) >= 1
    # The texts are there before, so their absence after means something.
    assert rows_with(settings.ledger_url, unique) and rows_with(settings.checkpoint_url, unique)

    assert client.delete(f"/conversations/{conversation}").status_code == 204

    everything = list(texts.values())
    for url in {settings.ledger_url, settings.checkpoint_url}:
        assert rows_with(url, unique) == []
        assert rows_with(url, everything, conversation_id=conversation) == []
        if url.startswith("sqlite"):  # a private database: no other conversation asked the same
            assert rows_with(url, everything) == []
    # What has no text stays for the counts: the rating, the tool call's outcome, the usage rows.
    assert services.feedback.summary()["ratings"] == ratings
    assert conversation not in {r["conversation_id"] for r in services.feedback.list()}
    assert {m["tool"]: m["calls"] for m in services.tool_calls.metrics(1)} == calls
    assert _count(settings.ledger_url, usage_sql, {"id": conversation}) == usage

    # The answer it cached went with it; the next asker's answer is cached again.
    later = [client.post("/chat", json={"message": QUESTION, "conversation_id": f"del-{uuid.uuid4().hex[:12]}"})
             .json() for _ in range(2)]
    assert [answer["cached"] for answer in later] == [False, True]


def test_the_retention_cli_deletes_every_copy_too(data_dir_copy, monkeypatch):
    monkeypatch.setenv("DATA_DIR", str(data_dir_copy))
    conversation, marker = f"old-{uuid.uuid4().hex[:12]}", uuid.uuid4().hex
    with running_app(data_dir_copy, llm_provider="extractive") as client:
        texts = _converse(client, conversation, marker)
        settings = client.app.state.chatbot.services.settings
        ratings = client.app.state.chatbot.services.feedback.summary()["ratings"]

    result = CliRunner().invoke(cli, ["conversations", "delete", "--status", "active", "--older-than", "0"])
    assert result.exit_code == 0 and result.output.startswith("deleted 1"), result.output

    for url in (settings.ledger_url, settings.checkpoint_url):
        assert rows_with(url, list(texts.values())) == []
    with running_app(data_dir_copy, llm_provider="extractive") as client:
        assert client.app.state.chatbot.services.feedback.summary()["ratings"] == ratings


def test_a_redis_cache_forgets_the_answers_a_conversation_wrote():
    import asyncio

    from app.llm.response_cache import RedisCache

    conversation = f"redis-{uuid.uuid4().hex[:12]}"  # the Redis server outlives this test run

    async def scenario():
        cache = RedisCache("redis://127.0.0.1:6379/0", ttl=60)
        try:
            keys = [f"chatbot:answer:test-{uuid.uuid4().hex}" for _ in range(2)]
            for key in keys:
                await cache.set(key, {"draft": "answer"}, conversation_id=conversation)
            await cache.set(keys[0] + "-other", {"draft": "theirs"}, conversation_id="someone-else")
            written = [await cache.get(key) for key in keys]
            forgotten = await cache.forget_conversation(conversation)
            return written, forgotten, [await cache.get(key) for key in keys], await cache.get(keys[0] + "-other")
        finally:
            await cache.aclose()

    written, forgotten, after, other = asyncio.run(scenario())
    assert written == [{"draft": "answer"}] * 2 and forgotten == 2
    assert after == [None, None] and other == {"draft": "theirs"}
