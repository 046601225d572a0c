"""The conversation registry: which conversations exist, whose they are, their status and age.

The messages live in LangGraph's checkpoints; this table beside them (in the same
database) records each conversation's owner, status (`active`, `archived`), when it
started, when its last turn ended and how many turns it had, which is what the runbook's
list, archive, delete and stats operations select on, and what keeps one owner out of
another's conversations. Archiving and deleting are safe to re-run; deleting removes the
checkpoints and every other copy of the conversation's text (`delete_conversation`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from typing import TYPE_CHECKING, Any

from app.ledgers.database import Database

if TYPE_CHECKING:
    from app.ledgers.feedback import FeedbackStore
    from app.ledgers.tool_calls import ToolCallLedger
    from app.llm.response_cache import ResponseCache

SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL DEFAULT 'active',
    created_at DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL,
    turns INTEGER NOT NULL DEFAULT 0,
    owner TEXT NOT NULL DEFAULT 'local'
)
"""
STATUSES = ("active", "archived")
DAY = 86_400.0
LOCAL_OWNER = "local"  # the owner of every conversation while the service runs without API keys
_COLUMNS = "id, status, created_at, updated_at, turns, owner"


class ConversationRegistry:
    def __init__(self, url: str):
        self._db = Database(url)
        self._db.execute(SCHEMA)
        self._db.add_column("conversations", "owner", "TEXT NOT NULL DEFAULT 'local'")
        self._db.execute("CREATE INDEX IF NOT EXISTS conversations_status ON conversations (status, updated_at)")
        self._db.execute("CREATE INDEX IF NOT EXISTS conversations_owner ON conversations (owner, updated_at)")

    def claim(self, conversation_id: str, owner: str, at: float | None = None) -> str | None:
        """Whether `owner` may write to this conversation: `"new"` (it is now theirs), `"theirs"`
        (it was), or None (another owner's).

        Claimed before the turn runs, so two owners racing for a new id cannot both win.
        """
        at = time.time() if at is None else at
        if self._db.execute(
            "INSERT INTO conversations (id, status, created_at, updated_at, turns, owner) "
            "VALUES (?, 'active', ?, ?, 0, ?) ON CONFLICT (id) DO NOTHING RETURNING id",
            (conversation_id, at, at, owner),
        ):
            return "new"
        rows = self._db.execute("SELECT owner FROM conversations WHERE id = ?", (conversation_id,))
        return "theirs" if rows and rows[0][0] == owner else None

    def record_turn(self, conversation_id: str, owner: str = LOCAL_OWNER, at: float | None = None) -> None:
        """A turn ended: the conversation exists, is active again, and is one turn longer."""
        at = time.time() if at is None else at
        self._db.execute(
            "INSERT INTO conversations (id, status, created_at, updated_at, turns, owner) "
            "VALUES (?, 'active', ?, ?, 1, ?) "
            "ON CONFLICT (id) DO UPDATE SET status = 'active', updated_at = excluded.updated_at, "
            "turns = conversations.turns + 1 WHERE conversations.owner = excluded.owner",
            (conversation_id, at, at, owner),
        )

    def get(self, conversation_id: str, owner: str | None = None) -> dict[str, Any] | None:
        """The conversation's record; with `owner`, only if it is theirs."""
        where, params = _where(owner, "id = ?", conversation_id)
        rows = self._db.execute(f"SELECT {_COLUMNS} FROM conversations WHERE {where}", params)
        return _row(rows[0]) if rows else None

    def list(self, status: str | None = None, limit: int = 20, owner: str | None = None) -> list[dict[str, Any]]:
        where, params = _where(owner, "status = ?" if status else "", *((status,) if status else ()))
        rows = self._db.execute(
            f"SELECT {_COLUMNS} FROM conversations WHERE {where} ORDER BY updated_at DESC LIMIT ?", (*params, limit))
        return [_row(r) for r in rows]

    def archive(self, older_than_days: float, now: float | None = None) -> int:
        """Archive active conversations whose last turn is older than the given days."""
        cutoff = (time.time() if now is None else now) - older_than_days * DAY
        rows = self._db.execute(
            "UPDATE conversations SET status = 'archived' WHERE status = 'active' AND updated_at < ? RETURNING id",
            (cutoff,))
        return len(rows)

    def archive_one(self, conversation_id: str, owner: str | None = None) -> bool:
        """Archive one conversation (again is fine); False when there is none (of `owner`'s)."""
        where, params = _where(owner, "id = ?", conversation_id)
        return bool(self._db.execute(f"UPDATE conversations SET status = 'archived' WHERE {where} RETURNING id",
                                     params))

    def stale(self, status: str | None, older_than_days: float, now: float | None = None) -> list[str]:
        cutoff = (time.time() if now is None else now) - older_than_days * DAY
        where, params = ("status = ? AND ", (status,)) if status else ("", ())
        rows = self._db.execute(f"SELECT id FROM conversations WHERE {where}updated_at < ?", (*params, cutoff))
        return [r[0] for r in rows]

    def forget(self, conversation_id: str) -> None:
        self._db.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))

    def stats(self, owner: str | None = None) -> dict[str, Any]:
        where, params = _where(owner, "")
        rows = self._db.execute("SELECT status, count(*), coalesce(sum(turns), 0), min(created_at), max(updated_at) "
                                f"FROM conversations WHERE {where} GROUP BY status", params)
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

    def started_per_day(self, since: float) -> dict[str, int]:
        """Conversations started per UTC day since a time."""
        days: dict[str, int] = {}
        for (created,) in self._db.execute("SELECT created_at FROM conversations WHERE created_at >= ?", (since,)):
            day = dt.datetime.fromtimestamp(created, dt.UTC).date().isoformat()
            days[day] = days.get(day, 0) + 1
        return dict(sorted(days.items()))

    def close(self) -> None:
        self._db.close()


def _where(owner: str | None, condition: str, *params: Any) -> tuple[str, tuple]:
    """`condition` (may be empty), narrowed to one owner's conversations when `owner` is given."""
    parts = [c for c in (condition, "owner = ?" if owner is not None else "") if c]
    return (" AND ".join(parts) or "TRUE"), (*params, *((owner,) if owner is not None else ()))


def _row(row: tuple) -> dict[str, Any]:
    id_, status, created, updated, turns, owner = row
    return {"id": id_, "status": status, "created_at": created, "updated_at": updated, "turns": int(turns),
            "owner": owner}


async def read_messages(checkpointer: Any, conversation_id: str) -> list[dict[str, str]]:
    """The conversation's messages from its latest checkpoint, as `{"role", "content", "id"}`."""
    found = await checkpointer.aget_tuple({"configurable": {"thread_id": conversation_id, "checkpoint_ns": ""}})
    if found is None:
        return []
    messages = found.checkpoint.get("channel_values", {}).get("messages", [])
    return [{"role": {"human": "user", "ai": "assistant"}.get(m.type, m.type), "content": str(m.content),
             "id": m.id} for m in messages]


async def find_answer(checkpointer: Any, conversation_id: str, message_id: str) -> dict[str, Any] | None:
    """An answer of the conversation by its message id, with the question it answered and what it cited."""
    found = await checkpointer.aget_tuple({"configurable": {"thread_id": conversation_id, "checkpoint_ns": ""}})
    messages = found.checkpoint.get("channel_values", {}).get("messages", []) if found else []
    for position, message in enumerate(messages):
        if message.type == "ai" and message.id == message_id:
            question = next((str(m.content) for m in reversed(messages[:position]) if m.type == "human"), "")
            return {"question": question, "answer": str(message.content),
                    "cited": list(message.response_metadata.get("cited", []))}
    return None


def format_time(timestamp: float | None) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%d %H:%M UTC") if timestamp else "-"


def to_markdown(record: dict[str, Any], messages: list[dict[str, str]]) -> str:
    """The runbook's Markdown export: a title, the status line, then each message."""
    lines = [f"# Conversation {record['id']}", "",
             f"Status: {record['status']}; last turn: {format_time(record.get('updated_at'))}", ""]
    for message in messages:
        lines += [f"**{message['role']}**: {message['content']}", ""]
    return "\n".join(lines)


async def delete_conversation(registry: ConversationRegistry, checkpointer: Any, conversation_id: str, *,
                              feedback: FeedbackStore | None, tool_calls: ToolCallLedger | None,
                              cache: ResponseCache | None) -> None:
    """Delete the conversation and every copy of its text.

    The stores are required (None only where there is none) so that no caller forgets a
    copy: the feedback copies of its questions and answers and their comments, its tool
    calls' arguments and errors, the cached answers its turns wrote. Ratings, tool-call
    outcomes and durations and the usage ledger (no text) stay for the counts. The
    registry row goes last: a failure on the way (Redis down) leaves it to delete again.
    """
    if cache is not None:
        await cache.forget_conversation(conversation_id)  # CacheUnavailable: nothing else is gone yet
    for store in (feedback, tool_calls):
        if store is not None:
            await asyncio.to_thread(store.forget_conversation, conversation_id)
    await checkpointer.adelete_thread(conversation_id)
    await asyncio.to_thread(registry.forget, conversation_id)
