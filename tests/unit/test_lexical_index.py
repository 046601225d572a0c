"""The tantivy copy of the lexical index: kept in step by writers, and never needed for
correct answers: rows it lags behind come from FTS5, rows deleted since are skipped."""

import subprocess
import sys
import textwrap

import pytest
from langchain_core.embeddings import FakeEmbeddings

from app.retrieval import EmbeddedVectorStore, lexical
from app.retrieval.catalog import IndexCatalog
from app.retrieval.lexical import lexical_path

TEXTS = {
    "refund": "Annual plans are refunded pro rata within thirty days of the renewal.",
    "deploy": "Deploy a model with a blue-green rollout and watch the error rate.",
    "limits": "Rate limits apply per user: sixty requests a minute by default.",
    "backup": "Conversations are backed up hourly; the recovery point objective is one hour.",
}


def _add(store, keys):
    store.add_texts([TEXTS[k] for k in keys], [{"document_id": k, "title": k.title()} for k in keys], ids=list(keys))


@pytest.fixture
def store(tmp_path):
    s = EmbeddedVectorStore(tmp_path / "kb.sqlite", FakeEmbeddings(size=8))
    _add(s, ["refund", "deploy", "limits"])
    return s


def _busy(*args, **kwargs):
    raise lexical.LexicalIndexBusy("held by another writer")


@pytest.fixture
def lagging(monkeypatch):
    """Writers that cannot reach the tantivy copy, as when another process holds its lock."""
    monkeypatch.setattr(lexical, "sync", _busy)


def ids(hits):
    return [chunk_id for chunk_id, _ in hits]


def test_writes_keep_the_copy_in_step(store):
    assert store.lexical_status() == {"enabled": True, "chunks": 3, "covered": 3, "dead": 0, "behind": 0}
    assert ids(store.lexical_search("How are annual plans refunded?", 3))[0] == "refund"
    store.delete(["refund"])
    assert "refund" not in ids(store.lexical_search("annual plans refunded", 3))
    assert store.lexical_status()["dead"] == 0  # the writer deleted it from the copy too


def test_rows_the_copy_lags_behind_are_searched_with_fts5(store, lagging):
    _add(store, ["backup"])
    status = store.lexical_status()
    assert status["behind"] == 1 and status["covered"] == 3
    assert ids(store.lexical_search("What is the recovery point objective?", 3))[0] == "backup"


def test_rows_deleted_while_the_copy_lags_are_never_returned(store, monkeypatch):
    with monkeypatch.context() as patch:
        patch.setattr(lexical, "sync", _busy)
        store.delete(["deploy"])
    assert store.lexical_status()["dead"] == 1
    assert "deploy" not in ids(store.lexical_search("deploy a model blue-green rollout", 3))
    # One dead document in three is past the rebuild threshold: the next sync rebuilds.
    assert store.sync_lexical() == {"enabled": True, "chunks": 2, "covered": 2, "dead": 0, "behind": 0}


def test_an_interrupted_sync_changes_nothing_and_the_next_one_completes(store, monkeypatch):
    def crash(*args, **kwargs):
        raise OSError("disk full")

    with monkeypatch.context() as patch:
        patch.setattr(lexical.tantivy.IndexWriter, "commit", crash)
        _add(store, ["backup"])  # the chunk is committed to SQLite; the copy's sync fails
    assert store.lexical_status()["behind"] == 1
    assert store.sync_lexical()["behind"] == 0
    assert store.sync_lexical()["covered"] == 4  # a second sync adds nothing twice
    assert lexical.LexicalIndex.open(store.path).docs == 4


def test_rowids_are_never_reused(store):
    """The copy and the HNSW graph name chunks by rowid: a reused rowid would mean another chunk."""
    last = store._db().execute("SELECT max(rowid) FROM chunks").fetchone()[0]
    store.delete(["limits"])  # the largest rowid
    _add(store, ["backup"])
    assert store._db().execute("SELECT rowid FROM chunks WHERE id = 'backup'").fetchone()[0] > last
    assert "backup" not in ids(store.lexical_search("sixty requests a minute rate limits", 3))


def test_query_syntax_cannot_leak_into_the_query(store):
    for question in ['title:Refund AND "annual', "refund* OR (plans", "NOT deploy -model", "^~:[]{}"]:
        store.lexical_search(question, 3)  # parses as plain words: no error
    assert store.lexical_search("the of and what is", 3) == []  # stop words only


def test_an_index_written_before_the_copy_existed_is_searched_and_can_be_synced(store):
    lexical.drop(store.path)
    reader = EmbeddedVectorStore(store.path, FakeEmbeddings(size=8))
    assert reader.lexical_status()["enabled"] is False
    assert ids(reader.lexical_search("annual plans refunded", 1)) == ["refund"]  # FTS5
    assert reader.sync_lexical()["covered"] == 3


def test_another_process_sees_commits_of_a_writer_process(store):
    assert "backup" not in ids(store.lexical_search("recovery point objective", 3))
    writer = textwrap.dedent(f"""
        from langchain_core.embeddings import FakeEmbeddings
        from app.retrieval import EmbeddedVectorStore
        s = EmbeddedVectorStore({str(store.path)!r}, FakeEmbeddings(size=8))
        s.add_texts([{TEXTS["backup"]!r}], [{{"document_id": "backup"}}], ids=["backup"])
        assert s.lexical_status()["behind"] == 0
    """)
    subprocess.run([sys.executable, "-c", writer], check=True, timeout=120)
    assert ids(store.lexical_search("recovery point objective", 3))[0] == "backup"
    assert store.lexical_status() == {"enabled": True, "chunks": 4, "covered": 4, "dead": 0, "behind": 0}


def test_dropping_an_index_removes_its_copy(tmp_path):
    catalog = IndexCatalog(tmp_path)
    s = EmbeddedVectorStore(catalog.path("kb-v1"), FakeEmbeddings(size=8))
    _add(s, ["refund"])
    assert lexical_path(s.path).is_dir()
    catalog.drop("kb-v1")
    assert not lexical_path(s.path).exists() and not s.path.exists()
