"""The embedded vector store: one SQLite file holding chunks, vectors and a BM25 index.

Chunks, their metadata and their float32 vectors live in one table; an FTS5 table beside
it backs BM25 lexical search. Every write is one transaction, so a crash never leaves a
half-written index, and readers in other processes (the service while `chatbot index`
runs) keep seeing the last committed state. This module holds the file, the writes and
the reads by id; the searches are its parts: vectors (app/retrieval/store_vectors.py:
exact over the unit vectors in memory, then an HNSW graph once the index passes
ANN_MIN_CHUNKS) and BM25 (app/retrieval/store_lexical.py: tantivy, with FTS5 for what
tantivy has not caught up with and for filtered queries).
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
from app.retrieval.ann import AnnIndex
from app.retrieval.filters import SearchFilter
from app.retrieval.sqlite_schema import SCHEMA, check_integrity, migrate, next_rowid
from app.retrieval.store_lexical import LexicalSearch
from app.retrieval.store_vectors import VectorSearch
from app.settings import ConfigurationError

logger = logging.getLogger(__name__)


class IndexModelMismatch(ConfigurationError):
    """The index was built with another embedding model than the one configured."""


class EmbeddedVectorStore(VectorSearch, LexicalSearch, VectorStore):
    """LangChain `VectorStore` over a SQLite file, with BM25 search beside the vectors
    (the search parts: app/retrieval/store_vectors.py and store_lexical.py)."""

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

    def ping(self) -> dict[str, Any]:
        """The health check: the file answers a query (no details beyond the counts)."""
        self._db().execute("SELECT 1")
        return {}

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
        if not docs:
            vectors = None
        elif vectors is None:
            vectors = self.embed_texts([d.page_content for d in docs])
        else:
            vectors = np.asarray(vectors, dtype=np.float32)
            vectors = vectors / np.clip(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12, None)
        with self._lock:
            conn = self._db()
            conn.execute("BEGIN IMMEDIATE")
            try:
                deleted = _delete_rows(conn, [*removals, *ids])
                first_rowid = next_rowid(conn)
                if vectors is not None:
                    self._record_model(conn, vectors.shape[1])
                    _insert_rows(conn, docs, ids, vectors, first_rowid)
                conn.executemany(
                    "INSERT OR REPLACE INTO meta VALUES (?, ?)",
                    [("generation", uuid.uuid4().hex), ("next_rowid", str(first_rowid + len(docs)))],
                )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            self._sync_lexical(deleted)

    def _record_model(self, conn: sqlite3.Connection, dimensions: int) -> None:
        """The index's embedding model and dimension, recorded by its first write and checked by every other."""
        recorded = self._meta("dimensions")
        if recorded not in (None, str(dimensions)):
            raise IndexModelMismatch(f"vectors of {dimensions} dims in an index of {recorded}")
        conn.execute("INSERT OR IGNORE INTO meta VALUES ('dimensions', ?)", (str(dimensions),))
        conn.execute("INSERT OR IGNORE INTO meta VALUES ('embedding_model', ?)", (self._model_name,))

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

    def passage(self, chunk_id: str, document_id: str | None = None) -> Document | None:
        found = self.get_by_ids([chunk_id])
        return found[0] if found else None

    def matching_ids(self, where: SearchFilter) -> set[str]:
        clause, params = where.sql()
        return {r[0] for r in self._db().execute(f"SELECT id FROM chunks WHERE {clause}", params)}

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


def _delete_rows(conn: sqlite3.Connection, chunk_ids: Iterable[str]) -> list[int]:
    """Delete the chunks (and their lexical rows); the rowids that went."""
    deleted = []
    for chunk_id in chunk_ids:
        # The lexical row shares the chunk's rowid: both deletes are index lookups.
        row = conn.execute("SELECT rowid FROM chunks WHERE id = ?", (chunk_id,)).fetchone()
        if row:
            conn.execute("DELETE FROM chunks_fts WHERE rowid = ?", row)
            conn.execute("DELETE FROM chunks WHERE rowid = ?", row)
            deleted.append(row[0])
    return deleted


def _insert_rows(conn: sqlite3.Connection, docs: Sequence[Document], ids: Sequence[str], vectors: np.ndarray,
                 first_rowid: int) -> None:
    """Insert the chunks with their vectors and lexical rows, from `first_rowid` on."""
    for rowid, (doc, chunk_id, vector) in enumerate(zip(docs, ids, vectors), start=first_rowid):
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
