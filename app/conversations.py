"""The conversation registry: which conversations exist, their status and age.

The messages live in LangGraph's checkpoints; this table beside them (in the same
database) records each conversation's status (`active`, `archived`), when it started,
when its last turn ended and how many turns it had, which is what the runbook's
list, archive, delete and stats operations select on. Archiving and deleting are safe
to re-run; deleting removes the checkpoints too.
"""

from __future__ import annotations

import time
from typing import Any

from app.db import Database

SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL DEFAULT 'active',
    created_at DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL,
    turns INTEGER NOT NULL DEFAULT 0
)
"""
STATUSES = ("active", "archived")
DAY = 86_400.0


class ConversationRegistry:
    def __init__(self, url: str):
        self._db = Database(url)
        self._db.execute(SCHEMA)
        self._db.execute("CREATE INDEX IF NOT EXISTS conversations_status ON conversations (status, updated_at)")

    def record_turn(self, conversation_id: str, at: float | None = None) -> None:
        """A turn ended: the conversation exists, is active again, and is one turn longer."""
        at = time.time() if at is None else at
        self._db.execute(
            "INSERT INTO conversations (id, status, created_at, updated_at, turns) VALUES (?, 'active', ?, ?, 1) "
            "ON CONFLICT (id) DO UPDATE SET status = 'active', updated_at = excluded.updated_at, "
            "turns = conversations.turns + 1",
            (conversation_id, at, at),
        )

    def get(self, conversation_id: str) -> dict[str, Any] | None:
        rows = self._db.execute("SELECT id, status, created_at, updated_at, turns FROM conversations WHERE id = ?",
                                (conversation_id,))
        return _row(rows[0]) if rows else None

    def list(self, status: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
        where, params = ("WHERE status = ?", (status,)) if status else ("", ())
        rows = self._db.execute(
            f"SELECT id, status, created_at, updated_at, turns FROM conversations {where} "
            "ORDER BY updated_at DESC LIMIT ?", (*params, limit))
        return [_row(r) for r in rows]

    def archive(self, older_than_days: float, now: float | None = None) -> int:
        """Archive active conversations whose last turn is older than the given days."""
        cutoff = (time.time() if now is None else now) - older_than_days * DAY
        rows = self._db.execute(
            "UPDATE conversations SET status = 'archived' WHERE status = 'active' AND updated_at < ? RETURNING id",
            (cutoff,))
        return len(rows)

    def stale(self, status: str | None, older_than_days: float, now: float | None = None) -> list[str]:
        cutoff = (time.time() if now is None else now) - older_than_days * DAY
        where, params = ("status = ? AND ", (status,)) if status else ("", ())
        rows = self._db.execute(f"SELECT id FROM conversations WHERE {where}updated_at < ?", (*params, cutoff))
        return [r[0] for r in rows]

    def forget(self, conversation_id: str) -> None:
        self._db.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))

    def stats(self) -> dict[str, Any]:
        rows = self._db.execute("SELECT status, count(*), coalesce(sum(turns), 0), min(created_at), max(updated_at) "
                                "FROM conversations GROUP BY status")
        by_status = {status: {"conversations": int(n), "turns": int(t)} for status, n, t, _, _ in rows}
        total = sum(s["conversations"] for s in by_status.values())
        turns = sum(s["turns"] for s in by_status.values())
        return {
            "conversations": total,
            "by_status": {status: by_status.get(status, {"conversations": 0, "turns": 0}) for status in STATUSES},
            "turns": turns,
            "mean_turns": round(turns / total, 2) if total else 0.0,
            "oldest": min((r[3] for r in rows), default=None),
            "latest_turn": max((r[4] for r in rows), default=None),
        }

    def close(self) -> None:
        self._db.close()


def _row(row: tuple) -> dict[str, Any]:
    id_, status, created, updated, turns = row
    return {"id": id_, "status": status, "created_at": created, "updated_at": updated, "turns": int(turns)}


async def delete_conversation(registry: ConversationRegistry, checkpointer: Any, conversation_id: str) -> None:
    """Remove the checkpoints first, then the registry row: a crash between leaves a row to retry."""
    await checkpointer.adelete_thread(conversation_id)
    registry.forget(conversation_id)
