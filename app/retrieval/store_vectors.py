"""The embedded store's vector part: the unit vectors in memory, exact search over them, and
the HNSW graph (app/retrieval/ann.py) once the index is large.

A mixin of `EmbeddedVectorStore`: it reads the chunks table through the store's `_db()`,
`_meta()`, `generation()` and `matching_ids()`, under the store's `_lock`; the vectors are
reloaded when a writer (in any process) committed a new generation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from app.retrieval.ann import REBUILD_FRACTION, AnnIndex, ann_path
from app.retrieval.filters import SearchFilter


class VectorSearch:
    def _vectors(self) -> tuple[list[str], np.ndarray]:
        with self._lock:
            current = self.generation()
            if current != self._loaded_generation:
                rows = self._db().execute("SELECT rowid, id, vector FROM chunks ORDER BY rowid").fetchall()
                self._rowids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
                self._ids = [r[1] for r in rows]
                self._row_of = {chunk_id: row for row, chunk_id in enumerate(self._ids)}
                dims = int(self._meta("dimensions") or 0)
                self._matrix = (
                    np.frombuffer(b"".join(r[2] for r in rows), dtype=np.float32).reshape(-1, dims)
                    if rows
                    else np.zeros((0, dims), dtype=np.float32)
                )
                self._loaded_generation = current
                self._ann_stamp = None  # recompute which rows the graph covers
            self._refresh_ann()
            return self._ids, self._matrix

    def warm_up(self) -> None:
        """Load the vectors, the HNSW graph and the lexical index (seconds at 1M chunks)."""
        self._vectors()
        self._lexical_reader()

    def _refresh_ann(self) -> None:
        """Load the HNSW graph (if the index is large and has one) and find uncovered rows."""
        path = ann_path(self.path)
        stamp = path.stat().st_mtime_ns if path.is_file() and len(self._ids) >= self.ann_min_chunks else None
        if stamp == self._ann_stamp:
            return
        self._ann = AnnIndex.load(path) if stamp is not None else None
        self._ann_stamp = stamp
        if self._ann is not None:
            self._delta_rows = np.flatnonzero(~np.isin(self._rowids, self._ann.rowids))

    def ann_status(self) -> dict[str, Any]:
        """Whether searches use the HNSW graph, and how much of the index it covers."""
        ids, _ = self._vectors()
        covered = len(ids) - len(self._delta_rows) if self._ann is not None else 0
        return {"enabled": self._ann is not None, "chunks": len(ids), "covered": covered,
                "stale": (self._ann is None and len(ids) >= self.ann_min_chunks)
                or (self._ann is not None and len(self._delta_rows) > REBUILD_FRACTION * max(1, len(ids)))}

    def build_ann(self) -> dict[str, Any]:
        """Build and save the HNSW graph over every chunk (minutes for a million)."""
        with self._lock:
            self._vectors()
            rowids, matrix = self._rowids.copy(), self._matrix
        AnnIndex.build(matrix, rowids).save(ann_path(self.path))
        return self.ann_status()

    def all_chunk_ids(self) -> list[str]:
        """Every chunk id, in the order the vectors are stored."""
        return list(self._vectors()[0])

    def stored_vectors(self, ids: Sequence[str]) -> np.ndarray:
        """The stored (unit) vectors of these chunks, one row each, in order."""
        with self._lock:
            self._vectors()
            row_of, matrix = self._row_of, self._matrix
        return matrix[[row_of[i] for i in ids]]

    def cosine_scores(self, query_vector: np.ndarray, ids: Sequence[str]) -> dict[str, float]:
        """Cosine similarity of the query to the given chunks (their rows only, not the index)."""
        with self._lock:
            self._vectors()
            row_of, matrix = self._row_of, self._matrix
        rows = [(i, row_of[i]) for i in ids if i in row_of]
        if not rows:
            return {}
        scores = matrix[[r for _, r in rows]] @ np.asarray(query_vector, dtype=np.float32)
        return {i: float(score) for (i, _), score in zip(rows, scores)}

    def _ann_search(self, query: np.ndarray, k: int, snapshot: tuple) -> list[tuple[str, float]]:
        """HNSW over the covered rows, exact over the rows written since; deleted rows skipped."""
        ids, ann, rowids, matrix, delta = snapshot
        found, scores = ann.search(query, k + min(k, 32))  # a margin for rows deleted since
        rows = np.searchsorted(rowids, found)
        rows = np.clip(rows, 0, len(rowids) - 1)
        live = (found >= 0) & (rowids[rows] == found)
        hits = list(zip(rows[live].tolist(), scores[live].tolist()))
        if len(delta):
            delta_scores = matrix[delta] @ query
            top = np.argsort(-delta_scores)[:k]
            hits += list(zip(delta[top].tolist(), delta_scores[top].tolist()))
        hits.sort(key=lambda h: h[1], reverse=True)
        return [(ids[row], float(score)) for row, score in hits[:k]]

    def vector_search(
        self, query_vector: np.ndarray, k: int, where: SearchFilter | None = None
    ) -> list[tuple[str, float]]:
        with self._lock:  # one consistent view, even if a reload happens meanwhile
            ids, matrix = self._vectors()
            snapshot = (ids, self._ann, self._rowids, matrix, self._delta_rows)
        if not ids:
            return []
        if snapshot[1] is not None and (where is None or where.is_empty()):
            return self._ann_search(np.asarray(query_vector, dtype=np.float32), k, snapshot)
        scores = matrix @ np.asarray(query_vector, dtype=np.float32)
        if where is not None and not where.is_empty():
            allowed = self.matching_ids(where)
            mask = np.fromiter((i in allowed for i in ids), dtype=bool, count=len(ids))
            scores = np.where(mask, scores, -np.inf)
            k = min(k, int(mask.sum()))
            if k == 0:
                return []
        k = min(k, len(ids))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top])]
        return [(ids[i], float(scores[i])) for i in top]
