"""Which conversations the age-based operations select."""

from app.conversations.registry import DAY, ConversationRegistry
from app.ledgers import schema
from app.ledgers.database import Database


def test_archive_and_delete_select_by_the_last_turn(tmp_path):
    registry = ConversationRegistry(f"sqlite:///{tmp_path / 'c.sqlite'}")
    now = 1_800_000_000.0
    registry.record_turn("old", at=now - 100 * DAY)
    registry.record_turn("idle", at=now - 40 * DAY)
    registry.record_turn("recent", at=now - 10 * DAY)
    assert registry.archive(30, now=now) == 2
    assert {c["id"] for c in registry.list("archived")} == {"old", "idle"}
    assert registry.stale("archived", 90, now=now) == ["old"]
    registry.record_turn("idle", at=now)  # a new turn makes it active again
    assert registry.get("idle") | {"created_at": 0} == {"id": "idle", "status": "active", "created_at": 0,
                                                        "updated_at": now, "turns": 2, "owner": "local",
                                                        "title": None}
    assert registry.stats()["by_status"] == {"active": {"conversations": 2, "turns": 3},
                                            "archived": {"conversations": 1, "turns": 1}}


def test_a_conversation_belongs_to_whoever_claimed_it_first(tmp_path):
    registry = ConversationRegistry(f"sqlite:///{tmp_path / 'c.sqlite'}")
    assert registry.claim("c1", "alice") == "new" and registry.claim("c1", "alice") == "theirs"
    assert registry.claim("c1", "bob") is None
    registry.record_turn("c1", "bob")  # another owner's turn neither counts nor changes the owner
    assert registry.get("c1", owner="bob") is None and registry.get("c1", owner="alice")["turns"] == 0
    registry.record_turn("c1", "alice")
    assert registry.get("c1", owner="alice")["turns"] == 1
    assert registry.list(owner="bob") == [] and [c["id"] for c in registry.list(owner="alice")] == ["c1"]
    assert not registry.archive_one("c1", owner="bob") and registry.archive_one("c1", owner="alice")
    assert registry.stats(owner="bob")["conversations"] == 0
    assert registry.stats(owner="alice")["by_status"]["archived"] == {"conversations": 1, "turns": 1}


def test_a_conversation_is_titled_by_its_first_question_until_its_owner_renames_it(tmp_path):
    registry = ConversationRegistry(f"sqlite:///{tmp_path / 'c.sqlite'}")
    assert registry.claim("c1", "alice", title="  How do I\n roll back?  ") == "new"
    assert registry.claim("c1", "alice", title="a later question") == "theirs"
    registry.record_turn("c1", "alice")
    assert registry.get("c1")["title"] == "How do I roll back?"  # one line; a later turn keeps it
    assert not registry.rename("c1", "Mine now", owner="bob") and registry.get("c1")["title"] == "How do I roll back?"
    assert registry.rename("c1", "Rollbacks " + "x" * 300, owner="alice")
    title = registry.get("c1")["title"]
    assert len(title) == 120 and title.startswith("Rollbacks xx") and title.endswith("…")


def test_a_registry_from_before_owners_gains_the_column(tmp_path):
    import sqlite3

    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE conversations (id TEXT PRIMARY KEY, status TEXT NOT NULL DEFAULT 'active', "
                   "created_at DOUBLE PRECISION NOT NULL, updated_at DOUBLE PRECISION NOT NULL, "
                   "turns INTEGER NOT NULL DEFAULT 0)")
        db.execute("INSERT INTO conversations VALUES ('old', 'active', 1.0, 2.0, 3)")
    # A database made before migrations is migrated by `chatbot db upgrade` (the service refuses it until then).
    database = Database(f"sqlite:///{path}")
    schema.upgrade(database, "conversations")
    database.close()
    registry = ConversationRegistry(f"sqlite:///{path}")
    assert registry.get("old")["owner"] == "local" and registry.claim("old", "local") == "theirs"
    ConversationRegistry(f"sqlite:///{path}").close()  # opening again is a no-op
