"""Aliases and versioned indexes: rebuild beside the live index, swap atomically, prune."""

import pytest

from app.retrieval import EmbeddedVectorStore, HybridRetriever, IndexCatalog
from app.retrieval.catalog import IndexNameError


def build(catalog, name, embeddings, texts):
    store = EmbeddedVectorStore(catalog.path(name), embeddings)
    store.add_texts(texts, [{"document_id": f"d{i}", "title": "t"} for i in range(len(texts))])
    return store


def test_a_store_on_an_alias_follows_a_swap(tmp_path, embeddings):
    catalog = IndexCatalog(tmp_path)
    build(catalog, "kb-v1", embeddings, ["The old index says blue."])
    build(catalog, "kb-v2", embeddings, ["The new index says green."])
    catalog.swap("kb", "kb-v1")
    serving = EmbeddedVectorStore(catalog.resolve_path("kb"), embeddings, resolve=lambda: catalog.resolve_path("kb"))
    retriever = HybridRetriever(store=serving, k=1)
    assert "blue" in retriever.invoke("what does the index say")[0].page_content
    assert catalog.swap("kb", "kb-v2") == "kb-v1"
    assert "green" in retriever.invoke("what does the index say")[0].page_content


def test_swap_refuses_missing_indexes_and_bad_names(tmp_path, embeddings):
    catalog = IndexCatalog(tmp_path)
    with pytest.raises(FileNotFoundError):
        catalog.swap("kb", "kb-v7")
    for name in ("../etc/passwd", "KB", "", "a/b"):
        with pytest.raises(IndexNameError):
            catalog.path(name)


def test_prune_removes_only_old_versions_nothing_serves(tmp_path, embeddings):
    catalog = IndexCatalog(tmp_path)
    for name in ("kb", "kb-v2", "kb-v3", "python-docs"):
        build(catalog, name, embeddings, [f"text of {name}"])
    catalog.swap("kb", "kb-v3")
    assert catalog.next_version("kb") == "kb-v4"
    assert sorted(catalog.stale("kb")) == ["kb", "kb-v2"]
    for name in catalog.stale("kb"):
        catalog.drop(name)
    assert catalog.indexes() == ["kb-v3", "python-docs"]
    with pytest.raises(IndexNameError, match="serving"):
        catalog.drop("kb-v3")


def test_a_fresh_name_without_alias_is_its_own_index(tmp_path):
    catalog = IndexCatalog(tmp_path)
    assert catalog.resolve("knowledge-base") == "knowledge-base"
    assert catalog.next_version("knowledge-base") == "knowledge-base-v2"
