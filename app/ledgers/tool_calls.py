"""The tool-call ledger: every tool call, with its arguments (secrets masked), outcome and duration.

Beside the usage ledger (SQLite under DATA_DIR, or DATABASE_URL's PostgreSQL). It feeds
`chatbot tools logs`, `chatbot tools metrics` and the `query_analytics` tool. Deleting a
conversation removes the text of its calls (arguments, error) and keeps the rest, so
the metrics still count them.
"""

from __future__ import annotations

import json
import time
from typing import Any

from app.ledgers.database import Database
from app.safety.secrets import mask_value

SCHEMA = """
CREATE TABLE IF NOT EXISTS tool_calls (
    at DOUBLE PRECISION NOT NULL,
    tool TEXT NOT NULL,
    arguments TEXT NOT NULL,
    outcome TEXT NOT NULL,
    duration_ms DOUBLE PRECISION NOT NULL,
    error TEXT,
    conversation_id TEXT
)
"""
DAY = 86_400.0
MAX_LOGGED_CHARS = 500
DELETED = "(deleted with its conversation)"  # the arguments of a deleted conversation's call


def mask_secrets(value: Any, name: str = "") -> Any:
    """Arguments as they may be logged: secret-named fields and secret-looking strings masked."""
    return mask_value(value, name, replacement="***")


class ToolCallLedger:
    def __init__(self, url: str):
        self._db = Database(url)
        self._db.execute(SCHEMA)
        # Deletion finds a conversation's calls by it (every version's table has it; guarded anyway).
        self._db.add_column("tool_calls", "conversation_id", "TEXT")
        self._db.execute("CREATE INDEX IF NOT EXISTS tool_calls_at ON tool_calls (at)")
        self._db.execute("CREATE INDEX IF NOT EXISTS tool_calls_conversation ON tool_calls (conversation_id)")

    def record(self, tool: str, arguments: dict[str, Any], outcome: str, duration_ms: float,
               error: str | None = None, conversation_id: str | None = None, at: float | None = None) -> None:
        logged = json.dumps(mask_secrets(arguments), default=str)[:MAX_LOGGED_CHARS]
        self._db.execute("INSERT INTO tool_calls (at, tool, arguments, outcome, duration_ms, error, conversation_id) "
                         "VALUES (?, ?, ?, ?, ?, ?, ?)",
                         (time.time() if at is None else at, tool, logged, outcome, duration_ms,
                          mask_secrets(error)[:MAX_LOGGED_CHARS] if error else None, conversation_id))

    def last(self, n: int) -> list[dict[str, Any]]:
        rows = self._db.execute("SELECT at, tool, arguments, outcome, duration_ms, error, conversation_id "
                                "FROM tool_calls ORDER BY at DESC LIMIT ?", (n,))
        keys = ("at", "tool", "arguments", "outcome", "duration_ms", "error", "conversation_id")
        return [dict(zip(keys, row)) for row in reversed(rows)]

    def metrics(self, days: float, now: float | None = None) -> list[dict[str, Any]]:
        """Per tool over the last `days`: calls, success and failure shares, mean duration."""
        since = (time.time() if now is None else now) - days * DAY
        rows = self._db.execute(
            "SELECT tool, count(*), sum(CASE WHEN outcome = 'success' THEN 1 ELSE 0 END), avg(duration_ms) "
            "FROM tool_calls WHERE at >= ? GROUP BY tool ORDER BY tool", (since,))
        return [{"tool": tool, "calls": int(calls), "success_pct": round(100 * ok / calls, 1),
                 "failure_pct": round(100 * (calls - ok) / calls, 1), "avg_duration_ms": round(avg or 0.0, 1)}
                for tool, calls, ok, avg in rows]

    def forget_conversation(self, conversation_id: str) -> int:
        """Remove the text of a conversation's calls; outcome and duration stay for the metrics."""
        return len(self._db.execute(
            "UPDATE tool_calls SET arguments = ?, error = NULL WHERE conversation_id = ? RETURNING tool",
            (DELETED, conversation_id)))

    def close(self) -> None:
        self._db.close()
