"""A fast BM25 index (tantivy) kept beside the SQLite file, derived from it.

SQLite's FTS5 table is the lexical index of record: it is written in the same
transaction as the chunks, so it is never out of step with them. But FTS5 scores every
row that matches any word of a question, which costs ~200 ms at 100k chunks. Tantivy
keeps its posting lists in blocks with their best scores (block-max WAND), so a top-k
query skips most of them: ~2 ms at a million chunks.

Tantivy is a derived copy that may lag: each document records its chunk's rowid (rowids
only grow, see `next_rowid`), so the copy covers every chunk up to the largest rowid it
holds. Writers bring it up to date after each commit (`sync`); if a writer crashes or
another process holds tantivy's lock, readers still see everything, because the store
searches rows above the covered rowid with FTS5 and skips hits whose rows were deleted.
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterable
from pathlib import Path

import tantivy

ANALYZER = "chatbot_en"
# Lucene's English stop words plus the words every question is made of: they match most
# chunks, add nothing to a ranking, and are what makes an OR query slow.
STOP_WORDS = sorted(set(
    "a an and are as at be but by for if in into is it no not of on or such that the their then "
    "there these they this to was will with what which who whom whose when where why how do does "
    "did can could should would may might i me my we our you your he she his her its them s t am "
    "been being have has had having from about".split()
))
WRITER_HEAP_BYTES = 64_000_000
SYNC_BATCH = 10_000
REBUILD_DEAD_FRACTION = 0.2  # rebuild the copy when this share of its documents is deleted


class LexicalIndexBusy(RuntimeError):
    """Another writer holds the lexical index: the next write brings it up to date."""


def lexical_path(index_path: Path) -> Path:
    return index_path.with_name(index_path.name + ".tantivy")


def _schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    builder.add_unsigned_field("rowid", indexed=True, fast=True)
    builder.add_text_field("text", tokenizer_name=ANALYZER)
    return builder.build()


def _analyzer() -> tantivy.TextAnalyzer:
    return (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
        .filter(tantivy.Filter.remove_long(40))
        .filter(tantivy.Filter.lowercase())
        .filter(tantivy.Filter.custom_stopword(STOP_WORDS))
        .filter(tantivy.Filter.stemmer("english"))
        .build()
    )


def _open(path: Path, *, create: bool) -> tantivy.Index | None:
    if not (path / "meta.json").is_file():
        if not create:
            return None
        path.mkdir(parents=True, exist_ok=True)
    index = tantivy.Index(_schema(), path=str(path))
    index.register_tokenizer(ANALYZER, _analyzer())  # analyzers are not stored in the index
    return index


class LexicalIndex:
    """A reader of the tantivy copy; `reload` picks up what writers committed since."""

    def __init__(self, path: Path, index: tantivy.Index):
        self.path = path
        self._index = index
        self._analyzer = _analyzer()
        self.stamp = self._stamp()
        self._load_counts()

    def _load_counts(self) -> None:
        searcher = self._index.searcher()
        self.covered = _covered(searcher)  # the largest rowid held
        self.docs = searcher.num_docs  # includes rows deleted since, until a writer drops them

    @classmethod
    def open(cls, index_path: Path) -> LexicalIndex | None:
        """The copy beside `index_path`, or None when there is none yet."""
        path = lexical_path(index_path)
        index = _open(path, create=False)
        return cls(path, index) if index is not None else None

    def _stamp(self) -> int | None:
        try:
            return (self.path / "meta.json").stat().st_mtime_ns
        except FileNotFoundError:
            return None

    def changed(self) -> bool:
        return self._stamp() != self.stamp

    def reload(self) -> None:
        self.stamp = self._stamp()
        self._index.reload()
        self._load_counts()

    def search(self, question: str, k: int) -> list[tuple[int, float]]:
        """(rowid, BM25 score) of the k best documents, best first."""
        query = self._query(question)
        if query is None:
            return []
        searcher = self._index.searcher()
        hits = searcher.search(query, k, count=False).hits
        if not hits:
            return []
        rowids = searcher.fast_field_values("rowid", [address for _, address in hits])
        return [(int(rowid), float(score)) for (score, _), rowid in zip(hits, rowids)]

    def _query(self, question: str) -> tantivy.Query | None:
        """An OR of the question's terms over the chunk texts.

        Built from the analyzer's terms rather than parsed, so no query syntax in a
        question (quotes, fields, AND/NOT) can change or break the query. Titles are
        left out: on the 64 labelled questions, weighting title matches at 1.0, 0.5,
        0.1 or 0 ranked best at 0 for hybrid search (hit@1 0.89 vs 0.86 at 1.0),
        and one field halves the work of a query.
        """
        terms = sorted(set(self._analyzer.analyze(question)))
        if not terms:
            return None
        schema = self._index.schema
        clauses = [(tantivy.Occur.Should, tantivy.Query.term_query(schema, "text", term)) for term in terms]
        return tantivy.Query.boolean_query(clauses)


def _covered(searcher: tantivy.Searcher) -> int:
    """The largest rowid in the copy (0 when empty): every row up to it is in it."""
    if searcher.num_docs == 0:
        return 0
    hits = searcher.search(tantivy.Query.all_query(), 1, count=False,
                           order_by_field="rowid", order=tantivy.Order.Desc).hits
    return int(searcher.fast_field_values("rowid", [hits[0][1]])[0])


def sync(index_path: Path, conn: sqlite3.Connection, deleted_rowids: Iterable[int] = ()) -> dict:
    """Bring the copy up to the committed chunks: add rows above it, drop deleted rows.

    Idempotent: a sync interrupted before its commit leaves the copy as it was, and
    the next one does the same work again. Raises `LexicalIndexBusy` when another
    writer holds the copy.
    """
    path = lexical_path(index_path)
    index = _open(path, create=True)
    try:
        writer = index.writer(heap_size=WRITER_HEAP_BYTES, num_threads=1)
    except ValueError as exc:  # tantivy's lock file is held by another writer
        raise LexicalIndexBusy(str(exc)) from exc
    try:
        searcher = index.searcher()
        covered = _covered(searcher)
        live_covered = conn.execute("SELECT count(*) FROM chunks WHERE rowid <= ?", (covered,)).fetchone()[0]
        rebuilt = searcher.num_docs - live_covered > REBUILD_DEAD_FRACTION * max(1, searcher.num_docs)
        if rebuilt:  # writes lost by crashed or concurrent writers left too many dead documents
            writer.delete_all_documents()
            covered = 0
        else:
            for rowid in deleted_rowids:
                writer.delete_documents_by_term("rowid", int(rowid))
        added = 0
        rows = conn.execute(
            "SELECT rowid, text FROM chunks "
            "WHERE rowid > ? ORDER BY rowid", (covered,)
        )
        while batch := rows.fetchmany(SYNC_BATCH):
            for rowid, text in batch:
                doc = tantivy.Document()
                doc.add_unsigned("rowid", rowid)
                doc.add_text("text", text)
                writer.add_document(doc)
            added += len(batch)
        writer.commit()
    except BaseException:
        writer.rollback()
        raise
    finally:
        # Releases the lock now, even if a kept traceback (a log record) keeps `writer` alive.
        writer.wait_merging_threads()
    return {"added": added, "rebuilt": rebuilt}


def drop(index_path: Path) -> None:
    shutil.rmtree(lexical_path(index_path), ignore_errors=True)
