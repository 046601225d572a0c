"""The service's own tables under Alembic: a new database is created at the current revision,
a database written by older code (main 09b59f5, and 54b80ac after the security review) is
refused until `chatbot db upgrade`, which migrates it with every row intact; then the service
serves it: the old key, the old conversation and its checkpoints, the old ledgers."""

import json
import shutil
import sqlite3
import threading
from pathlib import Path

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from typer.testing import CliRunner

from app.cli import cli
from app.ledgers import schema
from app.ledgers.database import Database
from app.ledgers.schema import SchemaBehind
from app.ledgers.tables import BRANCH_TABLES, metadata
from app.settings import load_settings
from tests.conftest import new_postgres_database
from tests.integration.conftest import running_app

LEGACY = Path(__file__).resolve().parents[1] / "fixtures" / "legacy"
SERVICE_TABLES = [t.name for tables in BRANCH_TABLES.values() for t in tables]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_new_database_gets_the_current_schema_at_once(backend, tmp_path):
    with new_postgres_database() if backend == "postgresql" else _nothing(f"sqlite:///{tmp_path}/u.sqlite") as url:
        databases, failures = [Database(url) for _ in range(3)], []

        def start(db: Database, branch: str) -> None:
            try:
                db.require(branch)
            except Exception as exc:
                failures.append(exc)

        threads = [threading.Thread(target=start, args=(db, branch)) for db in databases
                   for branch in schema.BRANCHES]  # replicas starting together
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert failures == []
        assert {b: schema.current(databases[0], b) for b in schema.BRANCHES} == {
            "ledgers": "ledgers_0001", "conversations": "conversations_0002"}
        assert all(schema.state(databases[0], b) == "current" for b in schema.BRANCHES)
        assert [_differences(url, b) for b in schema.BRANCHES] == [[], []]
        for db in databases:
            db.close()


class _nothing:
    def __init__(self, value):
        self.value = value

    def __enter__(self):
        return self.value

    def __exit__(self, *exc):
        return False


def _rows(url: str) -> dict[str, list[tuple]]:
    """Every row of the service's tables, sorted, as the database holds them."""
    if url.startswith("sqlite:///"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as db:
            names = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            return {t: sorted(map(tuple, db.execute(f'SELECT * FROM "{t}"'))) for t in SERVICE_TABLES if t in names}
    with psycopg.connect(url) as db:
        names = {r[0] for r in db.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
        return {t: sorted(map(tuple, db.execute(f'SELECT * FROM "{t}"'))) for t in SERVICE_TABLES if t in names}


def _differences(url: str, branch: str) -> list:
    """How the database's tables of `branch` differ from those the code declares (app/ledgers/tables.py).

    On SQLite, column types reflect as their affinity and a TEXT primary key as nullable:
    only tables, columns and indexes are compared there."""
    db = Database(url)
    names = {t.name for t in BRANCH_TABLES[branch]}

    def ours(item, name, kind, reflected, compare_to) -> bool:
        return (name if kind == "table" else getattr(getattr(item, "table", None), "name", None)) in names

    try:
        with db.engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={
                "compare_type": db.backend == "postgresql", "include_object": ours,
                "version_table": schema.VERSION_TABLE})
            found = compare_metadata(context, metadata)
    finally:
        db.close()
    flat = [d for entry in found for d in (entry if isinstance(entry, list) else [entry])]
    return [d for d in flat if not (db.backend == "sqlite" and d[0] == "modify_nullable")]


def _load_postgres_dump(url: str, dump: Path) -> None:
    script = "\n".join(line for line in dump.read_text().splitlines() if not line.startswith("\\"))  # psql commands
    with psycopg.connect(url, autocommit=True) as db:
        db.execute(script)


@pytest.fixture(params=[("09b59f5", "sqlite"), ("09b59f5", "postgresql"), ("54b80ac", "sqlite"),
                        ("54b80ac", "postgresql")], ids=lambda p: "-".join(p))
def legacy(request, data_dir_copy):
    """A DATA_DIR (and DATABASE_URL) holding what the older code wrote, and its manifest."""
    commit, backend = request.param
    fixtures = LEGACY / commit
    if backend == "sqlite":
        for name in ("usage.sqlite", "checkpoints.sqlite"):
            shutil.copy(fixtures / name, data_dir_copy / name)
        yield data_dir_copy, {}, json.loads((fixtures / "sqlite.json").read_text())
        return
    with new_postgres_database() as url:
        _load_postgres_dump(url, fixtures / "postgres.sql")
        yield data_dir_copy, {"database_url": url}, json.loads((fixtures / "postgres.json").read_text())


def test_an_older_database_is_refused_then_upgraded_with_every_row(legacy, monkeypatch):
    data_dir, database, written = legacy
    settings = load_settings(data_dir=data_dir, **database)
    before = {url: _rows(url) for url in {settings.ledger_url, settings.checkpoint_url}}
    monkeypatch.setenv("DATA_DIR", str(data_dir))
    if database:
        monkeypatch.setenv("DATABASE_URL", database["database_url"])
    with pytest.raises(SchemaBehind, match="chatbot db upgrade"):
        with running_app(data_dir, llm_provider="extractive", **database):
            pass
    refused = CliRunner().invoke(cli, ["serve"])
    assert refused.exit_code == 2 and "chatbot db upgrade" in refused.output
    assert CliRunner().invoke(cli, ["db", "current"]).exit_code == 1
    upgraded = CliRunner().invoke(cli, ["db", "upgrade"])
    assert upgraded.exit_code == 0, upgraded.output
    assert "made before migrations -> ledgers_0001" in upgraded.output
    assert CliRunner().invoke(cli, ["db", "current"]).exit_code == 0
    after = {url: _rows(url) for url in before}
    for url, tables in before.items():
        for table, rows in tables.items():
            assert [row[: len(rows[0])] for row in after[url][table]] == rows, table  # a new column comes last
    assert _differences(settings.ledger_url, "ledgers") == []
    assert _differences(settings.checkpoint_url, "conversations") == []

    alice = {"Authorization": f"Bearer {written['key']}"}
    with running_app(data_dir, llm_provider="extractive", **database) as client:
        services = client.app.state.chatbot.services
        listed = client.get("/conversations", headers=alice).json()["conversations"]
        assert [c["id"] for c in listed] == [written["conversation_id"]]
        messages = client.get(f"/conversations/{written['conversation_id']}", headers=alice).json()["messages"]
        assert [m["content"] for m in messages] == [written["question"], written["answer"]]
        assert services.usage.report("2025-11-24", "2025-11-24")[0]["total_tokens"] == 1500
        assert [c["tool"] for c in services.tool_calls.last(5)] == ["calculate"]
        assert [(r["message_id"], r["comment"]) for r in services.feedback.list()] == [
            (written["message_id"], "right figure")]
        backend = services.tools.backends("deploy_model")["backend"]
        assert written["deployment_id"] in {d["id"] for d in backend.deployments()}
        follow_up = client.post("/chat", headers=alice, json={"message": "And the RTO?",
                                                              "conversation_id": written["conversation_id"]})
        assert follow_up.status_code == 200
        assert client.get("/conversations", headers=alice).json()["conversations"][0]["turns"] == 2


def test_replicas_starting_together_set_up_the_checkpoints_of_a_new_postgres_database():
    """LangGraph's checkpoint migrations raced (duplicate key in checkpoint_migrations) when two
    replicas opened a new database at once; one of them failed to start."""
    import asyncio

    from app.conversations.checkpointers import open_checkpointer

    async def replica(url: str) -> None:
        async with open_checkpointer(url) as saver:
            await saver.aget_tuple({"configurable": {"thread_id": "t", "checkpoint_ns": ""}})

    async def start_together(url: str) -> None:
        await asyncio.gather(*(replica(url) for _ in range(4)))

    with new_postgres_database() as url:
        asyncio.run(start_together(url))
