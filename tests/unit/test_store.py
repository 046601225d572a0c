import sqlite3

import numpy as np
import pytest
from langchain_core.documents import Document

from app.ingestion import LoadedDocument, chunk_id, index_directory, split_document
from app.retrieval import (
    EmbeddedVectorStore,
    HybridRetriever,
    IndexModelMismatch,
    reciprocal_rank_fusion,
)


def doc(text, document_id="d1", **meta):
    return Document(page_content=text, metadata={"document_id": document_id, "title": document_id, "section": "", **meta})


@pytest.fixture
def store(tmp_path, embeddings):
    return EmbeddedVectorStore(tmp_path / "index.sqlite", embeddings)


def test_similarity_search_finds_the_semantically_closest_chunk(store):
    store.add_documents([doc("Roll back a Kubernetes deployment with kubectl rollout undo.", "k8s"),
                         doc("Conversations are archived after thirty days.", "retention")], ids=["a", "b"])
    (best, score), _ = store.similarity_search_with_score("how to revert a bad k8s release", k=2)
    assert best.metadata["document_id"] == "k8s" and 0 < score <= 1


def test_replace_document_keeps_unchanged_chunks_and_drops_stale_ones(store):
    first = [doc("alpha text one"), doc("beta text two")]
    assert store.replace_document("d1", first, ["c1", "c2"]) == 2
    assert store.replace_document("d1", first, ["c1", "c2"]) == 0  # unchanged: nothing written
    assert store.replace_document("d1", [doc("alpha text one"), doc("gamma new")], ["c1", "c3"]) == 1
    assert sorted(store.chunk_ids("d1")) == ["c1", "c3"]
    assert store.lexical_search("beta", 5) == []


def test_a_failed_write_leaves_the_index_as_it_was(store):
    store.add_texts(["kept chunk"], [{"document_id": "d1"}], ids=["x"])
    with pytest.raises(sqlite3.IntegrityError):  # the same id twice in one write
        store.add_texts(["one", "two"], [{"document_id": "d2"}] * 2, ids=["dup", "dup"])
    assert store.count() == 1 and store.get_by_ids(["x"])[0].page_content == "kept chunk"


def test_a_second_reader_sees_writes_committed_by_another_connection(tmp_path, embeddings, store):
    reader = EmbeddedVectorStore(tmp_path / "index.sqlite", embeddings)
    assert reader.similarity_search("anything", k=1) == []
    store.add_texts(["Redis holds the shared rate limits."], [{"document_id": "redis"}], ids=["r"])
    assert reader.similarity_search("rate limits", k=1)[0].id == "r"


def test_an_index_built_with_another_model_is_refused(tmp_path, embeddings):
    EmbeddedVectorStore(tmp_path / "i.sqlite", embeddings, model_name="other-model").add_texts(["x"], ids=["1"])
    with pytest.raises(IndexModelMismatch, match="other-model"):
        EmbeddedVectorStore(tmp_path / "i.sqlite", embeddings)


def test_lexical_search_ignores_fts_syntax_in_questions(store):
    store.add_texts(['error code "payload_too_large" means 413'], [{"document_id": "api"}], ids=["e"])
    assert store.lexical_search('payload_too_large AND NOT "x" OR (', 3)[0][0] == "e"


def test_rrf_rewards_agreement_between_rankings():
    fused = reciprocal_rank_fusion([["a", "b", "c"], ["c", "a", "d"]], k=60)
    assert [i for i, _ in fused][:2] == ["a", "c"]
    assert fused[0][1] == pytest.approx(1 / 61 + 1 / 62)


def test_rrf_weights_say_which_ranking_counts_more():
    rankings = [["v1", "shared"], ["b1", "shared"]]  # vector ranking, BM25 ranking
    assert reciprocal_rank_fusion(rankings, k=1, weights=(0.9, 0.1))[0][0] == "v1"
    assert reciprocal_rank_fusion(rankings, k=1, weights=(0.1, 0.9))[0][0] == "b1"
    # Equal weights rank as no weights do.
    assert [i for i, _ in reciprocal_rank_fusion(rankings, k=60, weights=(0.5, 0.5))] == \
        [i for i, _ in reciprocal_rank_fusion(rankings, k=60)]


def test_hybrid_retrieval_finds_an_exact_identifier_vectors_miss(store):
    texts = [f"General note {i} about deploying machine learning services." for i in range(30)]
    texts.append("Set ZX_QUOTA_42 to raise the quota.")
    store.add_texts(texts, [{"document_id": f"d{i}", "title": "t"} for i in range(len(texts))])
    docs = HybridRetriever(store=store, k=3).invoke("ZX_QUOTA_42")
    assert "ZX_QUOTA_42" in docs[0].page_content
    assert {"score", "rrf_score"} <= docs[0].metadata.keys()


def test_markdown_is_split_by_heading_with_stable_ids():
    text = "# Guide\n\nIntro.\n\n## Install\n\nRun make.\n\n## Use\n\nRun chatbot."
    loaded = LoadedDocument(text, "Guide", "guide.md", "2026-01-01T00:00:00+00:00")
    chunks = split_document(loaded, "guide", chunk_size=200, chunk_overlap=0)
    assert [c.metadata["section"] for c in chunks] == ["", "Install", "Use"]
    assert all(c.metadata["title"] == "Guide" for c in chunks)
    again = split_document(loaded, "guide", chunk_size=200, chunk_overlap=0)
    assert [chunk_id(c) for c in chunks] == [chunk_id(c) for c in again]


def test_reindexing_writes_only_changes_and_sync_removes_deleted_files(tmp_path, store):
    kb = tmp_path / "kb"
    kb.mkdir()
    (kb / "a.md").write_text("# A\n\nAlpha facts.")
    (kb / "b.md").write_text("# B\n\nBeta facts.")
    assert index_directory(store, kb).written == 2
    assert index_directory(store, kb).written == 0
    (kb / "b.md").write_text("# B\n\nBeta facts, revised.")
    (kb / "a.md").unlink()
    report = index_directory(store, kb, sync=True)
    assert report.written == 1 and report.removed_documents == ["a"]
    assert store.document_ids() == ["b"] and store.count() == 1


def test_an_index_from_the_previous_schema_is_migrated(tmp_path, embeddings):
    from app.retrieval.sqlite_schema import SCHEMA

    path = tmp_path / "old.sqlite"
    conn = sqlite3.connect(path)
    conn.executescript(SCHEMA)  # version 1 wrote lexical rows with their own rowids
    vector = np.asarray(embeddings.embed_query("restart the worker"), dtype=np.float32).tobytes()
    conn.execute("INSERT INTO meta VALUES ('dimensions', '384'), ('embedding_model', 'all-MiniLM-L6-v2')")
    conn.execute("INSERT INTO chunks VALUES ('a', 'ops', 'Restart the worker.', '{\"title\": \"Ops\"}', ?)", (vector,))
    conn.execute("INSERT INTO chunks_fts VALUES ('a', 'Ops', 'Restart the worker.')")
    conn.commit()
    conn.close()
    store = EmbeddedVectorStore(path, embeddings)
    assert store.lexical_search("restart", 3)[0][0] == "a"
    assert store.integrity()["problems"] == []
    store.delete(["a"])
    assert store.integrity()["lexical_entries"] == 0 and store.count() == 0
