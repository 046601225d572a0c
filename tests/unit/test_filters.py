"""Metadata filters through the store and the retriever, and questions that name a document."""

import pytest

from app.retrieval import EmbeddedVectorStore, HybridRetriever
from app.retrieval.naming import DocumentNames

META = [
    {"document_id": "ops/backups", "title": "Backup and Restore", "source": "kb/ops/backups.md", "tags": ["ops"], "modified": "2026-01-10T00:00:00+00:00"},
    {"document_id": "deploy/k8s", "title": "Kubernetes Guide", "source": "kb/deploy/k8s.md", "tags": ["deploy"], "modified": "2026-03-01T00:00:00+00:00"},
    {"document_id": "deploy/lambda", "title": "Lambda Guide", "source": "kb/deploy/lambda.md", "tags": ["deploy", "aws"], "modified": "2026-05-01T00:00:00+00:00"},
]
TEXTS = ["Restore a backup with pg_restore.", "Restart pods with kubectl rollout restart.", "Restart a Lambda by redeploying."]


@pytest.fixture(scope="module")
def store(tmp_path_factory, embeddings):
    s = EmbeddedVectorStore(tmp_path_factory.mktemp("f") / "i.sqlite", embeddings)
    s.add_texts(TEXTS, META, ids=["b", "k", "l"])
    return s


def ids(docs):
    return [d.id for d in docs]


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ({"document_ids": ["deploy/k8s"]}, {"k"}),
        ({"tags": ["aws", "ops"]}, {"b", "l"}),
        ({"source_prefix": "kb/deploy/"}, {"k", "l"}),
        ({"modified_after": "2026-02-01"}, {"k", "l"}),
        ({"modified_before": "2026-02-01"}, {"b"}),
        ({"tags": ["deploy"], "modified_after": "2026-04-01"}, {"l"}),
    ],
)
def test_filters_limit_both_searches(store, where, expected):
    assert set(ids(HybridRetriever(store=store, k=5).invoke("how do I restart", filter=where))) == expected
    assert set(ids(store.similarity_search("how do I restart", k=5, filter=where))) == expected


def test_filter_values_cannot_inject_sql(store):
    assert store.similarity_search("restart", k=5, filter={"document_ids": ["x') OR 1=1 --"]}) == []
    assert store.similarity_search("restart", k=5, filter={"source_prefix": "%"}) == []


def test_bad_filters_are_rejected(store):
    with pytest.raises(ValueError, match="unknown filter"):
        store.similarity_search("x", filter={"owner": "me"})
    with pytest.raises(ValueError):
        store.similarity_search("x", filter={"modified_after": "last tuesday"})


def test_questions_that_name_a_document_are_recognised(store):
    names = DocumentNames(store.document_titles)
    assert names("What does the Kubernetes Guide say about restarts?") == ["deploy/k8s"]
    assert names("In backup and restore, how do I restore?") == ["ops/backups"]
    assert names("how do I restart things?") == []
