"""Which conversations the age-based operations select."""

from app.conversations import DAY, ConversationRegistry


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
                                                        "updated_at": now, "turns": 2}
    assert registry.stats()["by_status"] == {"active": {"conversations": 2, "turns": 3},
                                            "archived": {"conversations": 1, "turns": 1}}
