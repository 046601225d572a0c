"""One behaviour contract for every vector store backend, plus fallback search.

OpenSearch runs here as `osmem-server` (an in-memory OpenSearch imitation on loopback:
index management, bulk, BM25, aliases; no k-NN, no search pipelines), Pinecone as a
loopback imitation of its data plane (tests/pinecone_fake.py) driven by the real SDK.
With OPENSEARCH_URL, or PINECONE_API_KEY and PINECONE_HOST, set, the same tests run
against those real services; otherwise they say so in the skip list.
"""

import os
import time
import uuid

import numpy as np
import pytest

from app.ingestion import index_directory
from app.retrieval import EmbeddedVectorStore, HybridRetriever, MirroredStore
from app.retrieval.opensearch import OpenSearchRetriever, OpenSearchStore, build_client
from app.retrieval.pinecone import PineconeRetriever, PineconeStore, build_index
from tests.integration.conftest import running_app

LIVE_OPENSEARCH = os.environ.get("OPENSEARCH_URL")
LIVE_PINECONE = os.environ.get("PINECONE_HOST") if os.environ.get("PINECONE_API_KEY") else None


@pytest.fixture(scope="session")
def opensearch_url():
    if LIVE_OPENSEARCH:
        yield LIVE_OPENSEARCH
        return
    from osmem_server import OsmemServer

    with OsmemServer.start(japanese=False) as server:
        yield server.url


@pytest.fixture(scope="session")
def pinecone_host():
    if LIVE_PINECONE:
        yield LIVE_PINECONE
        return
    import threading

    import uvicorn

    from tests.e2e.conftest import free_port
    from tests.pinecone_fake import create_app

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def pinecone_store(host, embeddings):
    index = build_index(os.environ.get("PINECONE_API_KEY", "test-key"), host, timeout=10)
    return PineconeStore(index, embeddings, model_name=embeddings.model_name, namespace=f"test-{uuid.uuid4().hex[:8]}")


def opensearch_store(url, embeddings):
    client = build_client(url, username=None, password=None, aws_region=None, timeout=5, verify_certs=True)
    return OpenSearchStore(client, f"test-{uuid.uuid4().hex[:8]}", embeddings, model_name=embeddings.model_name)


@pytest.fixture(params=["embedded", "opensearch", "pinecone"])
def store(request, tmp_path, embeddings, opensearch_url, pinecone_host):
    if request.param == "embedded":
        return EmbeddedVectorStore(tmp_path / "i.sqlite", embeddings)
    if request.param == "pinecone":
        return pinecone_store(pinecone_host, embeddings)
    return opensearch_store(opensearch_url, embeddings)


@pytest.fixture
def corpus(tmp_path):
    root = tmp_path / "kb"
    root.mkdir()
    (root / "restarts.md").write_text("# Restarts\n\n## Worker\n\nRestart the worker with systemctl restart worker.\n")
    (root / "backups.md").write_text("# Backups\n\n## Schedule\n\nThe database is backed up every five minutes.\n")
    (root / "quotas.md").write_text("# Quotas\n\n## GPUs\n\nEach team may use eight A100 GPUs.\n")
    return root


def search(store, query, **filters):
    """The backend's best search here: hybrid, or BM25 alone on osmem (no k-NN)."""
    if isinstance(store, EmbeddedVectorStore):
        return HybridRetriever(store=store, k=2).invoke(query, filter=filters or None)
    if isinstance(store, PineconeStore):
        return PineconeRetriever(store=store, k=2).invoke(query, filter=filters or None)
    if LIVE_OPENSEARCH:
        return OpenSearchRetriever(store=store, k=2).invoke(query, filter=filters or None)
    from app.retrieval.filters import SearchFilter

    return store.lexical_search(query, 2, SearchFilter.from_value(filters or None))


def test_add_update_delete_and_sync(store, corpus):
    report = index_directory(store, corpus, chunk_size=200, chunk_overlap=0)
    assert report.written == 3 and store.document_ids() == ["backups", "quotas", "restarts"]
    assert index_directory(store, corpus, chunk_size=200, chunk_overlap=0).written == 0
    old_ids = set(store.chunk_ids("backups"))
    (corpus / "backups.md").write_text("# Backups\n\n## Schedule\n\nThe database is backed up every hour.\n")
    (corpus / "quotas.md").unlink()
    report = index_directory(store, corpus, chunk_size=200, chunk_overlap=0, sync=True)
    assert report.written == 1 and report.removed_documents == ["quotas"]
    assert set(store.chunk_ids("backups")).isdisjoint(old_ids) and store.count() == 2
    assert store.delete_documents(["restarts"]) == 1 and store.document_ids() == ["backups"]


def test_search_and_filters(store, corpus):
    index_directory(store, corpus, chunk_size=200, chunk_overlap=0)
    assert search(store, "how often is the database backed up")[0].metadata["document_id"] == "backups"
    hits = search(store, "restart the worker", document_ids=["quotas"])
    assert {d.metadata["document_id"] for d in hits} <= {"quotas"}


def test_pinecone_lists_past_a_page_and_filters_by_tag_and_date(pinecone_host, embeddings):
    from langchain_core.documents import Document

    store = pinecone_store(pinecone_host, embeddings)
    chunks = [Document(page_content=f"note {n}", metadata={"document_id": "big", "title": "Big", "section": "",
                       "tags": ["even"] if n % 2 == 0 else ["odd"], "modified": f"2026-0{1 + n % 5}-01T00:00:00+00:00"})
              for n in range(250)]
    vectors = np.random.default_rng(0).normal(size=(250, 384)).astype(np.float32)
    assert store.replace_document("big", chunks, [f"c{n:03d}" for n in range(250)], vectors) == 250
    assert len(store.chunk_ids("big")) == 250 and store.count() == 250
    hits = PineconeRetriever(store=store, k=50).invoke("note", filter={"tags": ["odd"], "modified_after": "2026-04-01"})
    assert hits and all(d.metadata["tags"] == ["odd"] and d.metadata["modified"] >= "2026-04-01" for d in hits)
    with pytest.raises(ValueError, match="source prefix"):
        PineconeRetriever(store=store).invoke("note", filter={"source_prefix": "kb/"})
    assert store.delete_documents(["big"]) == 250 and store.count() == 0


@pytest.mark.skipif(bool(LIVE_OPENSEARCH), reason="osmem-only: a real cluster runs hybrid search")
def test_osmem_has_no_hybrid_search_so_it_fails_loudly(opensearch_url, embeddings, corpus):
    store = opensearch_store(opensearch_url, embeddings)
    index_directory(store, corpus, chunk_size=200, chunk_overlap=0)
    with pytest.raises(Exception, match="knn|[Pp]ipeline"):
        OpenSearchRetriever(store=store).invoke("restart")


def test_alias_swap_is_atomic_on_opensearch(opensearch_url, embeddings, corpus):
    store = opensearch_store(opensearch_url, embeddings)
    index_directory(store, corpus, chunk_size=200, chunk_overlap=0)
    store.create_index(f"{store.alias}-v2", 384)
    assert store.swap_alias(f"{store.alias}-v2") == [f"{store.alias}-v1"]
    assert store.count() == 0  # the alias now serves the new (empty) index


def test_indexing_with_fallback_enabled_fills_primary_and_replica(opensearch_url, embeddings, corpus, tmp_path):
    primary, replica = opensearch_store(opensearch_url, embeddings), EmbeddedVectorStore(tmp_path / "r.sqlite", embeddings)
    index_directory(MirroredStore(primary, replica), corpus, chunk_size=200, chunk_overlap=0)
    assert primary.document_ids() == replica.document_ids() == ["backups", "quotas", "restarts"]
    replica.delete_documents(["quotas"])  # the replica missed a write
    report = index_directory(MirroredStore(primary, replica), corpus, chunk_size=200, chunk_overlap=0)
    assert report.written == 1 and replica.document_ids() == primary.document_ids()


def service_settings(data_dir, url, **extra):
    return dict(llm_provider="extractive", vector_store="opensearch", vector_store_url=url,
                vector_store_index=f"kb-{uuid.uuid4().hex[:8]}", vector_store_timeout=1.0, **extra)


def test_unreachable_primary_falls_back_to_the_replica(data_dir_copy, embeddings):
    closed = "http://127.0.0.1:9"  # discard port: nothing listens
    with running_app(data_dir_copy, **service_settings(data_dir_copy, closed, enable_fallback_search=True)) as client:
        from app.retrieval import IndexCatalog

        # the replica is the session's indexed knowledge base under the test's index name
        settings = client.app.state.chatbot.services.settings
        IndexCatalog(settings.index_dir).swap(settings.vector_store_index, "knowledge-base")
        body = client.post("/chat", json={"message": "What is the RPO for conversations?"}).json()
        assert body["degraded"] is True and body["sources"]
        health = client.get("/health")
        assert health.status_code == 200 and health.json()["status"] == "degraded"
        assert health.json()["components"]["vector_store"]["status"] == "down"
        ready = client.get("/health/ready").json()
        assert ready["ready"] is True and ready["fallback_search"]["recent_primary_failure"] is True


def test_without_fallback_an_unreachable_primary_is_down(data_dir_copy):
    with running_app(data_dir_copy, **service_settings(data_dir_copy, "http://127.0.0.1:9")) as client:
        assert client.get("/health").status_code == 503
        assert client.get("/health/ready").json()["ready"] is False
        body = client.post("/chat", json={"message": "What is the RPO for conversations?"})
        assert body.status_code == 500 and body.json()["error"]["code"] == "internal_error"
