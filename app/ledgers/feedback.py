"""Users' ratings of answers: stored beside the ledgers, exported as evaluation data.

`POST /feedback` names an answer by its conversation and message id; the gateway checks
both belong to the caller and stores the rating with a copy of the question, the answer
and the documents it cited, so that an export still reads the same after the
conversation is archived. Deleting the conversation removes that copy and the comment:
the rating stays, without text, for the counts. One rating per answer and owner: rating
again replaces the earlier one.
"""

from __future__ import annotations

import json
import time
from typing import Any

from app.ledgers.database import Database
from app.safety.guardrails import redact

SCHEMA = """
CREATE TABLE IF NOT EXISTS feedback (
    conversation_id TEXT NOT NULL,
    message_id TEXT NOT NULL,
    owner TEXT NOT NULL,
    rating INTEGER NOT NULL,
    comment TEXT,
    question TEXT NOT NULL,
    answer TEXT NOT NULL,
    cited TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (message_id, owner)
)
"""
_COLUMNS = "conversation_id, message_id, owner, rating, comment, question, answer, cited, created_at"


class FeedbackStore:
    def __init__(self, url: str):
        self._db = Database(url)
        self._db.execute(SCHEMA)
        self._db.execute("CREATE INDEX IF NOT EXISTS feedback_created ON feedback (created_at)")
        self._db.execute("CREATE INDEX IF NOT EXISTS feedback_conversation ON feedback (conversation_id)")

    def record(self, *, conversation_id: str, message_id: str, owner: str, rating: int, comment: str | None,
               question: str, answer: str, cited: list[str], at: float | None = None) -> dict[str, Any]:
        if comment:  # personal data in a comment is masked like a message's
            comment, _ = redact(comment)
        row = (conversation_id, message_id, owner, rating, comment, question, answer, json.dumps(cited),
               at or time.time())
        # An upsert both SQLite and PostgreSQL accept: the newer rating replaces the older.
        self._db.execute(
            f"INSERT INTO feedback ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (message_id, owner) DO UPDATE SET rating = excluded.rating, "
            "comment = excluded.comment, created_at = excluded.created_at", row)
        return _row(row)

    def list(self, since: float = 0.0, rating: int | None = None) -> list[dict[str, Any]]:
        """The ratings that still have their text (not those of deleted conversations)."""
        where, params = "created_at >= ? AND question <> ''", [since]
        if rating is not None:
            where += " AND rating = ?"
            params.append(rating)
        rows = self._db.execute(f"SELECT {_COLUMNS} FROM feedback WHERE {where} ORDER BY created_at", tuple(params))
        return [_row(r) for r in rows]

    def summary(self, since: float = 0.0, until: float = float("inf")) -> dict[str, Any]:
        [(total, helpful)] = self._db.execute(
            "SELECT COUNT(*), COALESCE(SUM(CASE WHEN rating > 0 THEN 1 ELSE 0 END), 0) FROM feedback "
            "WHERE created_at >= ? AND created_at < ?", (since, min(until, 1e18)))
        return {"ratings": int(total), "helpful": int(helpful),
                "helpful_share": round(int(helpful) / int(total), 3) if total else None}

    def forget_conversation(self, conversation_id: str) -> int:
        """Remove the conversation's text (question, answer, comment, citations); the ratings stay."""
        return len(self._db.execute(
            "UPDATE feedback SET question = '', answer = '', comment = NULL, cited = '[]' "
            "WHERE conversation_id = ? RETURNING message_id", (conversation_id,)))

    def close(self) -> None:
        self._db.close()


def _row(row: tuple) -> dict[str, Any]:
    conversation_id, message_id, owner, rating, comment, question, answer, cited, created = row
    return {"conversation_id": conversation_id, "message_id": message_id, "owner": owner, "rating": int(rating),
            "comment": comment, "question": question, "answer": answer, "cited": json.loads(cited),
            "created_at": float(created)}


def to_dataset_rows(ratings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Ratings as evaluation items (the dataset format of `evals/datasets/README.md`).

    A helpful answer becomes a reference answer labelled with the documents it cited; an
    unhelpful one (or a helpful one that cited nothing) keeps the question and the answer
    given, with an empty reference for a reviewer to write.
    """
    rows = []
    for item in ratings:
        # A helpful answer that cited nothing (a tool's result, small talk) labels no document.
        helpful = item["rating"] > 0 and bool(item["cited"])
        rows.append({
            "id": f"fb-{item['message_id'].removeprefix('msg-')[:12]}",
            "question": item["question"],
            "reference_answer": item["answer"] if helpful else "",
            "relevant_doc_ids": item["cited"] if helpful else [],
            "rating": item["rating"],
            "comment": item["comment"],
            "answer_given": item["answer"],
            "source": "feedback",
        })
    return rows
