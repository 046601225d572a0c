"""The embedded vector store: one SQLite file holding chunks, vectors and a BM25 index.

Chunks, their metadata and their float32 vectors live in one table; an FTS5 table
beside it gives BM25 lexical search. Every write is one transaction, so a crash never
leaves a half-written index, and readers in other processes (the service while
`chatbot index` runs) keep seeing the last committed state. Vector search is exact
(a matrix product over the unit vectors), which stays within the runbook's 100 ms
budget far past the size of a team knowledge base.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.vectorstores import VectorStore

from app.retrieval import lexical
from app.retrieval.ann import REBUILD_FRACTION, AnnIndex, ann_path
from app.retrieval.filters import SearchFilter
from app.retrieval.sqlite_schema import SCHEMA, check_integrity, fts_query, migrate, next_rowid
from app.settings import ConfigurationError

logger = logging.getLogger(__name__)


class IndexModelMismatch(ConfigurationError):
    """The index was built with another embedding model than the one configured."""


class EmbeddedVectorStore(VectorStore):
    """LangChain `VectorStore` over a SQLite file, with BM25 search beside the vectors."""

    def __init__(
        self,
        path: str | Path,
        embedding: Embeddings,
        *,
        model_name: str | None = None,
        resolve: Callable[[], Path] | None = None,
        ann_min_chunks: int = 50_000,
    ):
        """A store on the SQLite file `path`.

        With `resolve`, the file is looked up again before each operation (an alias in
        an `IndexCatalog`): when an alias is swapped, the store moves to the new index.
        """
        self._embedding = embedding
        self._model_name = model_name or getattr(embedding, "model_name", type(embedding).__name__)
        self._resolve = resolve
        self.ann_min_chunks = ann_min_chunks
        self._lock = threading.RLock()
        self._open(Path(path))

    def _open(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA busy_timeout=10000")
        conn.executescript(SCHEMA)
        migrate(conn)
        previous = getattr(self, "_conn", None)
        self.path, self._conn = path, conn
        self._loaded_generation: str | None = None
        self._ids: list[str] = []
        self._row_of: dict[str, int] = {}
        self._rowids = np.zeros(0, dtype=np.int64)
        self._matrix = np.zeros((0, 0), dtype=np.float32)
        self._ann: AnnIndex | None = None
        self._ann_stamp: int | None = None
        self._delta_rows = np.zeros(0, dtype=np.int64)  # rows the ANN graph does not cover
        self._lexical: lexical.LexicalIndex | None = None
        try:
            self._check_model()
        except IndexModelMismatch:
            conn.close()
            if previous is not None:
                self._conn = previous
            raise
        # The previous connection is not closed here: a search on another thread may
        # still be reading from it; it closes when the last reference goes.

    def _db(self) -> sqlite3.Connection:
        """The connection to the index this store serves now."""
        if self._resolve is not None:
            path = self._resolve()
            if path != self.path:
                with self._lock:
                    if path != self.path:
                        self._open(path)
        return self._conn

    # -- bookkeeping ---------------------------------------------------------------
    def _meta(self, key: str) -> str | None:
        row = self._db().execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def _check_model(self) -> None:
        recorded = self._meta("embedding_model")
        if recorded is not None and recorded != self._model_name:
            raise IndexModelMismatch(
                f"index {self.path} was built with {recorded!r}, not {self._model_name!r}: "
                "rebuild it with the new EMBEDDING_MODEL"
            )

    @property
    def embeddings(self) -> Embeddings:
        return self._embedding

    @property
    def model_name(self) -> str:
        return self._model_name

    def generation(self) -> str:
        """Changes on every committed write; readers reload their vectors when it does."""
        return self._meta("generation") or ""

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

    def count(self) -> int:
        return self._db().execute("SELECT count(*) FROM chunks").fetchone()[0]

    def stats(self) -> dict[str, Any]:
        docs = self._db().execute("SELECT count(DISTINCT document_id) FROM chunks").fetchone()[0]
        return {
            "path": str(self.path),
            "documents": docs,
            "chunks": self.count(),
            "embedding_model": self._meta("embedding_model"),
            "dimensions": int(self._meta("dimensions") or 0),
        }

    def integrity(self) -> dict[str, Any]:
        """Counts and consistency checks for `chatbot verify`; `problems` lists what is wrong."""
        dims = int(self._meta("dimensions") or 0)
        return {**self.stats(), **check_integrity(self._db(), dims)}

    # -- writes ----------------------------------------------------------------------
    def embed_texts(self, texts: list[str]) -> np.ndarray:
        """Unit vectors for `texts`, as a (n, dims) float32 matrix."""
        embed_array = getattr(self._embedding, "embed_array", None)
        vectors = embed_array(texts) if embed_array else np.array(
            self._embedding.embed_documents(texts), dtype=np.float32
        )
        vectors = np.asarray(vectors, dtype=np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.clip(norms, 1e-12, None)

    def _write(
        self,
        removals: Iterable[str],
        docs: Sequence[Document],
        ids: Sequence[str],
        vectors: np.ndarray | None = None,
    ) -> None:
        """Delete `removals`, then upsert `docs` under `ids`, all in one transaction.

        `vectors` are the documents' embeddings when computed elsewhere (`chatbot embed`).
        """
        if docs and vectors is None:
            vectors = self.embed_texts([d.page_content for d in docs])
        elif vectors is not None:
            vectors = np.asarray(vectors, dtype=np.float32)
            vectors = vectors / np.clip(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12, None)
        if not docs:
            vectors = None
        with self._lock:
            conn = self._db()
            conn.execute("BEGIN IMMEDIATE")
            deleted: list[int] = []
            try:
                for chunk_id in list(removals) + list(ids):
                    # The lexical row shares the chunk's rowid: both deletes are index lookups.
                    row = conn.execute("SELECT rowid FROM chunks WHERE id = ?", (chunk_id,)).fetchone()
                    if row:
                        conn.execute("DELETE FROM chunks_fts WHERE rowid = ?", row)
                        conn.execute("DELETE FROM chunks WHERE rowid = ?", row)
                        deleted.append(row[0])
                first_rowid = next_rowid(conn)
                if vectors is not None:
                    dims = str(vectors.shape[1])
                    recorded = self._meta("dimensions")
                    if recorded not in (None, dims):
                        raise IndexModelMismatch(f"vectors of {dims} dims in an index of {recorded}")
                    conn.execute("INSERT OR IGNORE INTO meta VALUES ('dimensions', ?)", (dims,))
                    conn.execute(
                        "INSERT OR IGNORE INTO meta VALUES ('embedding_model', ?)",
                        (self._model_name,),
                    )
                for rowid, (doc, chunk_id, vector) in enumerate(
                    zip(docs, ids, vectors if vectors is not None else []), start=first_rowid
                ):
                    meta = dict(doc.metadata)
                    document_id = str(meta.get("document_id") or chunk_id)
                    conn.execute(
                        "INSERT INTO chunks (rowid, id, document_id, text, metadata, vector) VALUES (?, ?, ?, ?, ?, ?)",
                        (rowid, chunk_id, document_id, doc.page_content, json.dumps(meta), vector.tobytes()),
                    )
                    conn.execute(
                        "INSERT INTO chunks_fts (rowid, chunk_id, title, text) VALUES (?, ?, ?, ?)",
                        (rowid, chunk_id, str(meta.get("title", "")), doc.page_content),
                    )
                conn.executemany(
                    "INSERT OR REPLACE INTO meta VALUES (?, ?)",
                    [("generation", uuid.uuid4().hex), ("next_rowid", str(first_rowid + len(docs)))],
                )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            self._sync_lexical(deleted)

    def _sync_lexical(self, deleted_rowids: Sequence[int] = ()) -> None:
        """Bring the tantivy copy up to the commit; searches cover any lag, so failing is fine."""
        try:
            lexical.sync(self.path, self._conn, deleted_rowids)
        except lexical.LexicalIndexBusy:
            pass  # another process is writing the copy; the next write catches up
        except Exception:
            logger.exception("could not update the lexical index of %s; searches fall back to FTS5", self.path)

    def add_texts(
        self,
        texts: Iterable[str],
        metadatas: list[dict] | None = None,
        *,
        ids: list[str] | None = None,
        **kwargs: Any,
    ) -> list[str]:
        texts = list(texts)
        metadatas = metadatas or [{} for _ in texts]
        ids = ids or [uuid.uuid4().hex for _ in texts]
        docs = [Document(page_content=t, metadata=m) for t, m in zip(texts, metadatas)]
        self._write([], docs, ids)
        return list(ids)

    def replace_document(
        self,
        document_id: str,
        chunks: Sequence[Document],
        ids: Sequence[str],
        vectors: np.ndarray | None = None,
    ) -> int:
        """Make `chunks` the whole of `document_id`; unchanged chunks are kept as they are.

        Returns how many chunks were written (0 when the document did not change).
        """
        existing = set(self.chunk_ids(document_id))
        new = [n for n, i in enumerate(ids) if i not in existing]
        stale = existing - set(ids)
        if new or stale:
            self._write(
                stale,
                [chunks[n] for n in new],
                [ids[n] for n in new],
                None if vectors is None else np.asarray(vectors)[new],
            )
        return len(new)

    def iter_documents(self) -> Iterator[tuple[str, list[Document]]]:
        """Every document's chunks, for copying an index (a rebuild)."""
        for document_id in self.document_ids():
            yield document_id, self.get_by_ids(self.chunk_ids(document_id))

    def delete(self, ids: list[str] | None = None, **kwargs: Any) -> bool | None:
        if not ids:
            return False
        self._write(ids, [], [])
        return True

    def delete_documents(self, document_ids: Iterable[str]) -> int:
        """Remove every chunk of the given documents; returns how many went away."""
        chunk_ids = [c for d in document_ids for c in self.chunk_ids(d)]
        if chunk_ids:
            self._write(chunk_ids, [], [])
        return len(chunk_ids)

    # -- reads -----------------------------------------------------------------------
    def chunk_ids(self, document_id: str) -> list[str]:
        rows = self._db().execute("SELECT id FROM chunks WHERE document_id = ?", (document_id,))
        return [r[0] for r in rows]

    def document_titles(self) -> dict[str, str]:
        """document id -> title, for recognising documents a question names."""
        rows = self._db().execute(
            "SELECT document_id, json_extract(metadata, '$.title') FROM chunks GROUP BY document_id"
        )
        return {r[0]: r[1] or r[0] for r in rows}

    def document_ids(self) -> list[str]:
        rows = self._db().execute("SELECT DISTINCT document_id FROM chunks ORDER BY document_id")
        return [r[0] for r in rows]

    def get_by_ids(self, ids: Sequence[str], /) -> list[Document]:
        docs = []
        for chunk_id in ids:
            row = self._db().execute(
                "SELECT text, metadata FROM chunks WHERE id = ?", (chunk_id,)
            ).fetchone()
            if row:
                docs.append(Document(id=chunk_id, page_content=row[0], metadata=json.loads(row[1])))
        return docs

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

    def matching_ids(self, where: SearchFilter) -> set[str]:
        clause, params = where.sql()
        return {r[0] for r in self._db().execute(f"SELECT id FROM chunks WHERE {clause}", params)}

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

    def embed_query(self, query: str) -> np.ndarray:
        vector = np.asarray(self._embedding.embed_query(query), dtype=np.float32)
        return vector / max(float(np.linalg.norm(vector)), 1e-12)

    def similarity_search_with_score(
        self, query: str, k: int = 4, filter: SearchFilter | dict | None = None, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        return self.similarity_search_by_vector_with_score(self.embed_query(query), k, filter)

    def similarity_search_by_vector_with_score(
        self, embedding: Sequence[float] | np.ndarray, k: int = 4, filter: SearchFilter | dict | None = None
    ) -> list[tuple[Document, float]]:
        hits = self.vector_search(np.asarray(embedding, dtype=np.float32), k, SearchFilter.from_value(filter))
        docs = {d.id: d for d in self.get_by_ids([i for i, _ in hits])}
        return [(docs[i], s) for i, s in hits if i in docs]

    def similarity_search(
        self, query: str, k: int = 4, filter: SearchFilter | dict | None = None, **kwargs: Any
    ) -> list[Document]:
        return [d for d, _ in self.similarity_search_with_score(query, k, filter)]

    def similarity_search_by_vector(
        self, embedding: list[float], k: int = 4, filter: SearchFilter | dict | None = None, **kwargs: Any
    ) -> list[Document]:
        return [d for d, _ in self.similarity_search_by_vector_with_score(embedding, k, filter)]

    def _select_relevance_score_fn(self):
        return lambda cosine: (cosine + 1.0) / 2.0

    @classmethod
    def from_texts(
        cls,
        texts: list[str],
        embedding: Embeddings,
        metadatas: list[dict] | None = None,
        *,
        ids: list[str] | None = None,
        path: str | Path = "data/index/knowledge-base.sqlite",
        **kwargs: Any,
    ) -> EmbeddedVectorStore:
        store = cls(path, embedding)
        store.add_texts(texts, metadatas, ids=ids)
        return store

    def close(self) -> None:
        self._conn.close()
