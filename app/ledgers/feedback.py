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

from sqlalchemy import case, func, select

from app.ledgers.database import Database, owned
from app.ledgers.tables import feedback
from app.safety.pii import redact

_COLUMNS = ("conversation_id", "message_id", "owner", "rating", "comment", "question", "answer", "cited",
            "created_at")


class FeedbackStore:
    def __init__(self, db: Database | str):
        self._db, self._owns_db = owned(db)
        self._db.require("ledgers")

    def record(self, *, conversation_id: str, message_id: str, owner: str, rating: int, comment: str | None,
               question: str, answer: str, cited: list[str], at: float | None = None) -> dict[str, Any]:
        if comment:  # personal data in a comment is masked like a message's
            comment, _ = redact(comment)
        row = dict(zip(_COLUMNS, (conversation_id, message_id, owner, rating, comment, question, answer,
                                  json.dumps(cited), at or time.time())))
        insert = self._db.insert(feedback).values(**row)
        # The newer rating replaces the older one of the same answer and owner.
        self._db.execute(insert.on_conflict_do_update(
            index_elements=["message_id", "owner"],
            set_={"rating": insert.excluded.rating, "comment": insert.excluded.comment,
                  "created_at": insert.excluded.created_at}))
        return _row(tuple(row.values()))

    def list(self, since: float = 0.0, rating: int | None = None) -> list[dict[str, Any]]:
        """The ratings that still have their text (not those of deleted conversations)."""
        f = feedback.c
        query = select(*(f[c] for c in _COLUMNS)).where(f.created_at >= since, f.question != "")
        if rating is not None:
            query = query.where(f.rating == rating)
        return [_row(r) for r in self._db.execute(query.order_by(f.created_at))]

    def summary(self, since: float = 0.0, until: float = float("inf")) -> dict[str, Any]:
        f = feedback.c
        [(total, helpful)] = self._db.execute(
            select(func.count(), func.coalesce(func.sum(case((f.rating > 0, 1), else_=0)), 0))
            .where(f.created_at >= since, f.created_at < min(until, 1e18)))
        return {"ratings": int(total), "helpful": int(helpful),
                "helpful_share": round(int(helpful) / int(total), 3) if total else None}

    def forget_conversation(self, conversation_id: str) -> int:
        """Remove the conversation's text (question, answer, comment, citations); the ratings stay."""
        return len(self._db.execute(
            feedback.update().where(feedback.c.conversation_id == conversation_id)
            .values(question="", answer="", comment=None, cited="[]").returning(feedback.c.message_id)))

    def close(self) -> None:
        if self._owns_db:
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
