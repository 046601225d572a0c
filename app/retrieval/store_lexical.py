"""The embedded store's lexical part: BM25 through tantivy (app/retrieval/lexical.py) over
the rows its copy covers, and SQLite FTS5 for the rows written since and for filtered queries.

A mixin of `EmbeddedVectorStore`: it uses the store's `_db()`, `_vectors()`, `path`,
`_lexical` and `_lock`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from app.retrieval import lexical
from app.retrieval.filters import SearchFilter
from app.retrieval.sqlite_schema import fts_query


class LexicalSearch:
    def lexical_search(self, query: str, k: int, where: SearchFilter | None = None) -> list[tuple[str, float]]:
        """BM25 over chunk titles and texts; higher scores are better.

        Tantivy answers unfiltered queries over the rows it covers; FTS5 answers the
        rows written since (none, once the writer's sync ran) and filtered queries.
        """
        if where is not None and not where.is_empty():
            return self._fts_search(query, k, where)
        reader = self._lexical_reader()
        if reader is None:
            return self._fts_search(query, k)
        with self._lock:
            ids, _ = self._vectors()
            rowids = self._rowids
        dead = reader.docs - int(np.searchsorted(rowids, reader.covered, side="right"))
        hits = []
        for rowid, score in reader.search(query, k + min(k, 32) if dead else k):  # a margin for dead rows
            row = int(np.searchsorted(rowids, rowid))
            if row < len(rowids) and rowids[row] == rowid:
                hits.append((ids[row], score))
        if len(rowids) and rowids[-1] > reader.covered:
            hits += self._fts_search(query, k, after_rowid=reader.covered)
            hits.sort(key=lambda h: h[1], reverse=True)
        return hits[:k]

    def _fts_search(
        self, query: str, k: int, where: SearchFilter | None = None, after_rowid: int = 0
    ) -> list[tuple[str, float]]:
        match = fts_query(query)
        if not match:
            return []
        if where is None or where.is_empty():
            sql, params = ("SELECT chunk_id, bm25(chunks_fts) FROM chunks_fts "
                           "WHERE chunks_fts MATCH ? AND rowid > ?"), [after_rowid]
        else:  # the join costs a lookup per match: only when a filter needs the metadata
            clause, params = where.sql("c")
            sql = ("SELECT f.chunk_id, bm25(chunks_fts) FROM chunks_fts f JOIN chunks c ON c.id = f.chunk_id "
                   f"WHERE chunks_fts MATCH ? AND {clause}")
        rows = self._db().execute(f"{sql} ORDER BY bm25(chunks_fts) LIMIT ?", (match, *params, k)).fetchall()
        return [(r[0], -float(r[1])) for r in rows]

    def _lexical_reader(self) -> lexical.LexicalIndex | None:
        """The tantivy copy, reloaded when a writer committed to it since the last search."""
        with self._lock:
            reader = self._lexical
            if reader is None or reader.path != lexical.lexical_path(self.path):
                reader = self._lexical = lexical.LexicalIndex.open(self.path)
            elif reader.changed():
                reader.reload()
            return reader

    def lexical_status(self) -> dict[str, Any]:
        """How much of the index the tantivy copy covers, and how many of its documents are dead."""
        reader = self._lexical_reader()
        with self._lock:
            ids, _ = self._vectors()
            rowids = self._rowids
        if reader is None:
            return {"enabled": False, "chunks": len(ids), "covered": 0, "dead": 0, "behind": len(ids)}
        covered = int(np.searchsorted(rowids, reader.covered, side="right"))
        return {"enabled": True, "chunks": len(ids), "covered": covered,
                "dead": max(0, reader.docs - covered), "behind": len(ids) - covered}

    def sync_lexical(self) -> dict[str, Any]:
        """Bring the tantivy copy up to date now (after a crash, or for an index written before it)."""
        with self._lock:
            lexical.sync(self.path, self._db())
        return self.lexical_status()
