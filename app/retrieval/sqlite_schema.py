"""The embedded store's SQLite schema: tables, migrations, integrity checks, FTS queries."""

from __future__ import annotations

import re
import sqlite3
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS chunks (
    id TEXT PRIMARY KEY,
    document_id TEXT NOT NULL,
    text TEXT NOT NULL,
    metadata TEXT NOT NULL,
    vector BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_document ON chunks(document_id);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(
    chunk_id UNINDEXED, title, text, tokenize = 'porter unicode61'
);
"""
_WORD = re.compile(r"\w+", re.UNICODE)


def fts_query(text: str) -> str:
    """A question as an FTS5 OR-query of its quoted words (no FTS syntax can leak in)."""
    words = {w.lower() for w in _WORD.findall(text) if len(w) > 1}
    return " OR ".join(f'"{w}"' for w in sorted(words))


SCHEMA_VERSION = "2"  # 2: a chunk's lexical row has the chunk's rowid


def migrate(conn: sqlite3.Connection) -> None:
    """Bring an index written by an older version to SCHEMA_VERSION, in one transaction."""
    row = conn.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
    if row and row[0] == SCHEMA_VERSION:
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute("DELETE FROM chunks_fts")
        conn.execute(
            "INSERT INTO chunks_fts (rowid, chunk_id, title, text) "
            "SELECT rowid, id, coalesce(json_extract(metadata, '$.title'), ''), text FROM chunks"
        )
        conn.execute("INSERT OR REPLACE INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def next_rowid(conn: sqlite3.Connection) -> int:
    """The rowid of the next chunk. Rowids are never reused (SQLite's own would reuse the
    largest after a delete), so a rowid names one chunk for good, which the HNSW graph
    and the tantivy copy, both keyed by rowid, rely on."""
    recorded = conn.execute("SELECT value FROM meta WHERE key = 'next_rowid'").fetchone()
    largest = conn.execute("SELECT max(rowid) FROM chunks").fetchone()[0] or 0
    return max(int(recorded[0]) if recorded else 0, largest + 1)


def check_integrity(db: sqlite3.Connection, dims: int) -> dict[str, Any]:
    """Lexical entries and the problems found: wrong-sized vectors, orphans, duplicates."""
    fts = db.execute("SELECT count(*) FROM chunks_fts").fetchone()[0]
    bad_vectors = db.execute("SELECT count(*) FROM chunks WHERE length(vector) != ?", (dims * 4,)).fetchone()[0]
    orphan_fts = db.execute(
        "SELECT count(*) FROM chunks_fts WHERE chunk_id NOT IN (SELECT id FROM chunks)"
    ).fetchone()[0]
    unindexed = db.execute(
        "SELECT count(*) FROM chunks WHERE id NOT IN (SELECT chunk_id FROM chunks_fts)"
    ).fetchone()[0]
    duplicates = db.execute(
        "SELECT count(*) FROM (SELECT 1 FROM chunks GROUP BY document_id, text HAVING count(*) > 1)"
    ).fetchone()[0]
    problems = [
        message
        for count, message in (
            (bad_vectors, f"{bad_vectors} vectors are not {dims}-dimensional"),
            (orphan_fts, f"{orphan_fts} lexical entries have no chunk"),
            (unindexed, f"{unindexed} chunks are missing from the lexical index"),
            (duplicates, f"{duplicates} chunk texts are stored more than once in a document"),
        )
        if count
    ]
    return {"lexical_entries": fts, "problems": problems}
