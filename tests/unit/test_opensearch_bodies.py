"""OpenSearch request bodies, checked against the documented APIs (no server needed).

References: k-NN index mappings (`knn_vector`, `method.name: hnsw`, engines and space
types), the `hybrid` query of neural-search, the `score-ranker-processor` (RRF) search
pipeline processor (2.19+), bulk actions and `_aliases` actions.
"""

import numpy as np
from langchain_core.documents import Document

from app.retrieval.filters import SearchFilter
from app.retrieval.opensearch import bulk_actions, filter_clauses, hybrid_query, index_body, pipeline_body


def test_index_body_declares_a_knn_vector_with_hnsw():
    body = index_body(384, "all-MiniLM-L6-v2")
    assert body["settings"]["index"]["knn"] is True
    vector = body["mappings"]["properties"]["vector"]
    assert vector["type"] == "knn_vector" and vector["dimension"] == 384
    assert vector["method"]["name"] == "hnsw" and vector["method"]["space_type"] == "innerproduct"
    assert vector["method"]["engine"] in {"faiss", "lucene", "nmslib"}
    assert body["mappings"]["_meta"] == {"embedding_model": "all-MiniLM-L6-v2", "dimensions": 384}
    assert body["mappings"]["properties"]["document_id"]["type"] == "keyword"


def test_hybrid_query_pairs_bm25_and_knn_with_the_same_filters():
    where = SearchFilter(document_ids=("a",), tags=("ops",), modified_after="2026-01-01")
    body = hybrid_query("restart the worker", np.ones(3) / 3, k=4, fetch_k=20, where=where)
    lexical, knn = body["query"]["hybrid"]["queries"]
    assert lexical["bool"]["must"]["multi_match"]["query"] == "restart the worker"
    assert knn["knn"]["vector"]["k"] == 20 and len(knn["knn"]["vector"]["vector"]) == 3
    assert lexical["bool"]["filter"] == knn["knn"]["vector"]["filter"]["bool"]["filter"] == filter_clauses(where)
    assert body["size"] == 4 and body["_source"] == {"excludes": ["vector"]}


def test_filters_map_to_term_prefix_and_range_clauses():
    where = SearchFilter(document_ids=("a", "b"), source_prefix="kb/ops/", tags=("x",),
                         modified_after="2026-01-01", modified_before="2026-02-01")
    assert filter_clauses(where) == [
        {"terms": {"document_id": ["a", "b"]}},
        {"prefix": {"source": "kb/ops/"}},
        {"terms": {"tags": ["x"]}},
        {"range": {"modified": {"gte": "2026-01-01", "lt": "2026-02-01"}}},
    ]
    assert filter_clauses(None) == [] and "filter" not in hybrid_query("q", [1.0], 4, 20)["query"]["hybrid"]["queries"][1]["knn"]["vector"]


def test_pipeline_fuses_by_reciprocal_rank():
    (processor,) = pipeline_body(60)["phase_results_processors"]
    assert processor == {"score-ranker-processor": {"combination": {"technique": "rrf", "rank_constant": 60}}}


def test_bulk_deletes_stale_chunks_and_indexes_new_ones():
    chunk = Document(page_content="text", metadata={"document_id": "d", "title": "T", "tags": ["x"]})
    actions = bulk_actions("kb", ["old"], [chunk], ["new"], np.array([[0.6, 0.8]]))
    assert actions[0] == {"_op_type": "delete", "_index": "kb", "_id": "old"}
    assert actions[1]["_op_type"] == "index" and actions[1]["_id"] == "new"
    assert actions[1]["_source"]["vector"] == [0.6, 0.8] and actions[1]["_source"]["document_id"] == "d"
