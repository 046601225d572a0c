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

from sqlalchemy import case, func, select

from app.ledgers.database import Database, owned
from app.ledgers.tables import tool_calls
from app.safety.secrets import mask_value

DAY = 86_400.0
MAX_LOGGED_CHARS = 500
DELETED = "(deleted with its conversation)"  # the arguments of a deleted conversation's call
_COLUMNS = ("at", "tool", "arguments", "outcome", "duration_ms", "error", "conversation_id")


def mask_secrets(value: Any, name: str = "") -> Any:
    """Arguments as they may be logged: secret-named fields and secret-looking strings masked."""
    return mask_value(value, name, replacement="***")


class ToolCallLedger:
    def __init__(self, db: Database | str):
        self._db, self._owns_db = owned(db)
        self._db.require("ledgers")

    def record(self, tool: str, arguments: dict[str, Any], outcome: str, duration_ms: float,
               error: str | None = None, conversation_id: str | None = None, at: float | None = None) -> None:
        self._db.execute(tool_calls.insert(), {
            "at": time.time() if at is None else at, "tool": tool,
            "arguments": json.dumps(mask_secrets(arguments), default=str)[:MAX_LOGGED_CHARS], "outcome": outcome,
            "duration_ms": duration_ms, "error": mask_secrets(error)[:MAX_LOGGED_CHARS] if error else None,
            "conversation_id": conversation_id})

    def last(self, n: int) -> list[dict[str, Any]]:
        rows = self._db.execute(select(*(tool_calls.c[c] for c in _COLUMNS)).order_by(tool_calls.c.at.desc()).limit(n))
        return [dict(zip(_COLUMNS, row)) for row in reversed(rows)]

    def metrics(self, days: float, now: float | None = None) -> list[dict[str, Any]]:
        """Per tool over the last `days`: calls, success and failure shares, mean duration."""
        since = (time.time() if now is None else now) - days * DAY
        t = tool_calls.c
        rows = self._db.execute(
            select(t.tool, func.count(), func.sum(case((t.outcome == "success", 1), else_=0)), func.avg(t.duration_ms))
            .where(t.at >= since).group_by(t.tool).order_by(t.tool))
        return [{"tool": tool, "calls": int(calls), "success_pct": round(100 * ok / calls, 1),
                 "failure_pct": round(100 * (calls - ok) / calls, 1), "avg_duration_ms": round(avg or 0.0, 1)}
                for tool, calls, ok, avg in rows]

    def forget_conversation(self, conversation_id: str) -> int:
        """Remove the text of a conversation's calls; outcome and duration stay for the metrics."""
        return len(self._db.execute(
            tool_calls.update().where(tool_calls.c.conversation_id == conversation_id)
            .values(arguments=DELETED, error=None).returning(tool_calls.c.tool)))

    def close(self) -> None:
        if self._owns_db:
            self._db.close()
