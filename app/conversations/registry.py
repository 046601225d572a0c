"""The conversation registry: which conversations exist, whose they are, their status and age.

The messages live in LangGraph's checkpoints; this table beside them (in the same
database) records each conversation's owner, status (`active`, `archived`), when it
started, when its last turn ended and how many turns it had, which is what the runbook's
list, archive, delete and stats operations select on, and what keeps one owner out of
another's conversations. Archiving and deleting are safe to re-run; deleting removes the
checkpoints and every other copy of the conversation's text (app/conversations/deletion.py).
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from sqlalchemy import ColumnElement, bindparam, func, select, true

from app.access.keys import LOCAL_OWNER
from app.ledgers.database import Database, owned
from app.ledgers.tables import conversations

STATUSES = ("active", "archived")
DAY = 86_400.0
_COLUMNS = ("id", "status", "created_at", "updated_at", "turns", "owner", "title")
TITLE_CHARS = 120
c = conversations.c


def _of(owner: str | None, *conditions: ColumnElement[bool]) -> list[ColumnElement[bool]]:
    """The conditions, narrowed to one owner's conversations when `owner` is given."""
    return [*conditions, *([c.owner == owner] if owner is not None else [])] or [true()]


def _title(text: str | None) -> str | None:
    """A title: one line, at most TITLE_CHARS characters (None for none)."""
    line = " ".join((text or "").split())
    return (line[: TITLE_CHARS - 1] + "…" if len(line) > TITLE_CHARS else line) or None


def _row(row: Any) -> dict[str, Any]:
    record = dict(zip(_COLUMNS, row))
    record["turns"] = int(record["turns"])
    return record


class ConversationRegistry:
    def __init__(self, db: Database | str):
        self._db, self._owns_db = owned(db)
        self._db.require("conversations")
        # Every turn runs these: built once, their parameters bound at each call (SQLAlchemy
        # then reuses their compiled form, where one built with its values costs ~0.25 ms).
        insert = self._db.insert(conversations)
        self._claim = insert.on_conflict_do_nothing(index_elements=["id"]).returning(c.id)
        self._owner_of = select(c.owner).where(c.id == bindparam("id"))
        self._turn_ended = insert.on_conflict_do_update(
            index_elements=["id"], set_={"status": "active", "updated_at": insert.excluded.updated_at,
                                         "turns": c.turns + 1}, where=c.owner == insert.excluded.owner)

    def claim(self, conversation_id: str, owner: str, at: float | None = None, title: str | None = None) -> str | None:
        """Whether `owner` may write to this conversation: `"new"` (it is now theirs, with
        `title`), `"theirs"` (it was), or None (another owner's).

        Claimed before the turn runs, so two owners racing for a new id cannot both win.
        """
        at = time.time() if at is None else at
        row = {"id": conversation_id, "status": "active", "created_at": at, "updated_at": at, "turns": 0,
               "owner": owner, "title": _title(title)}
        if self._db.execute(self._claim, row):
            return "new"
        rows = self._db.execute(self._owner_of, {"id": conversation_id})
        return "theirs" if rows and rows[0][0] == owner else None

    def record_turn(self, conversation_id: str, owner: str = LOCAL_OWNER, at: float | None = None) -> None:
        """A turn ended: the conversation exists, is active again, and is one turn longer."""
        at = time.time() if at is None else at
        self._db.execute(self._turn_ended, {"id": conversation_id, "status": "active", "created_at": at,
                                            "updated_at": at, "turns": 1, "owner": owner, "title": None})

    def get(self, conversation_id: str, owner: str | None = None) -> dict[str, Any] | None:
        """The conversation's record; with `owner`, only if it is theirs."""
        rows = self._db.execute(select(*(c[n] for n in _COLUMNS)).where(*_of(owner, c.id == conversation_id)))
        return _row(rows[0]) if rows else None

    def list(self, status: str | None = None, limit: int = 20, owner: str | None = None) -> list[dict[str, Any]]:
        conditions = _of(owner, *([c.status == status] if status else []))
        rows = self._db.execute(select(*(c[n] for n in _COLUMNS)).where(*conditions)
                                .order_by(c.updated_at.desc()).limit(limit))
        return [_row(r) for r in rows]

    def archive(self, older_than_days: float, now: float | None = None) -> int:
        """Archive active conversations whose last turn is older than the given days."""
        cutoff = (time.time() if now is None else now) - older_than_days * DAY
        return len(self._db.execute(conversations.update().where(c.status == "active", c.updated_at < cutoff)
                                    .values(status="archived").returning(c.id)))

    def archive_one(self, conversation_id: str, owner: str | None = None) -> bool:
        """Archive one conversation (again is fine); False when there is none (of `owner`'s)."""
        return bool(self._db.execute(conversations.update().where(*_of(owner, c.id == conversation_id))
                                     .values(status="archived").returning(c.id)))

    def rename(self, conversation_id: str, title: str, owner: str | None = None) -> bool:
        """Give the conversation a title; False when there is none (of `owner`'s)."""
        return bool(self._db.execute(conversations.update().where(*_of(owner, c.id == conversation_id))
                                     .values(title=_title(title)).returning(c.id)))

    def stale(self, status: str | None, older_than_days: float, now: float | None = None) -> list[str]:
        cutoff = (time.time() if now is None else now) - older_than_days * DAY
        conditions = [c.updated_at < cutoff, *([c.status == status] if status else [])]
        return [r[0] for r in self._db.execute(select(c.id).where(*conditions))]

    def forget(self, conversation_id: str) -> None:
        self._db.execute(conversations.delete().where(c.id == conversation_id))

    def stats(self, owner: str | None = None) -> dict[str, Any]:
        rows = self._db.execute(
            select(c.status, func.count(), func.coalesce(func.sum(c.turns), 0), func.min(c.created_at),
                   func.max(c.updated_at)).where(*_of(owner)).group_by(c.status))
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
        for (created,) in self._db.execute(select(c.created_at).where(c.created_at >= since)):
            day = dt.datetime.fromtimestamp(created, dt.UTC).date().isoformat()
            days[day] = days.get(day, 0) + 1
        return dict(sorted(days.items()))

    def close(self) -> None:
        if self._owns_db:
            self._db.close()
