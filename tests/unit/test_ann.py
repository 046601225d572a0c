"""The HNSW graph of large embedded indexes: same answers as exact search, kept usable as
the index changes, and saved beside the index for other processes."""

import numpy as np
import pytest

from app.retrieval import EmbeddedVectorStore
from app.retrieval.ann import ann_path


class RandomEmbeddings:
    """Clustered random unit vectors keyed by text: enough rows to make a graph worth testing."""

    model_name = "random-64"

    def __init__(self):
        self.rng = np.random.default_rng(7)
        self.centres = self.rng.normal(size=(20, 64))
        self.cache = {}

    def _vector(self, text):
        if text not in self.cache:
            v = self.centres[hash(text) % 20] + 0.5 * self.rng.normal(size=64)
            self.cache[text] = v / np.linalg.norm(v)
        return self.cache[text]

    def embed_documents(self, texts):
        return [self._vector(t).tolist() for t in texts]

    def embed_query(self, text):
        return self._vector(text).tolist()


@pytest.fixture
def store(tmp_path):
    s = EmbeddedVectorStore(tmp_path / "big.sqlite", RandomEmbeddings(), ann_min_chunks=500)
    texts = [f"chunk {n}" for n in range(3000)]
    s.add_texts(texts, [{"document_id": f"d{n % 300}"} for n in range(3000)], ids=[f"c{n}" for n in range(3000)])
    return s


def exact(store, query, k):
    ids, matrix = store._vectors()
    scores = matrix @ query
    return [ids[i] for i in np.argsort(-scores)[:k]]


def test_small_indexes_search_exactly(tmp_path):
    s = EmbeddedVectorStore(tmp_path / "small.sqlite", RandomEmbeddings(), ann_min_chunks=500)
    s.add_texts([f"t{n}" for n in range(100)], ids=[f"c{n}" for n in range(100)])
    assert s.ann_status() == {"enabled": False, "chunks": 100, "covered": 0, "stale": False}


def test_the_graph_finds_what_exact_search_finds(store):
    assert store.ann_status()["stale"] is True
    status = store.build_ann()
    assert status == {"enabled": True, "chunks": 3000, "covered": 3000, "stale": False}
    queries = [np.asarray(store.embed_query(f"query {n}"), dtype=np.float32) for n in range(50)]
    recall = np.mean([len({i for i, _ in store.vector_search(q, 10)} & set(exact(store, q, 10))) / 10 for q in queries])
    assert recall >= 0.95


def test_rows_written_after_the_graph_are_found_and_deleted_rows_are_not(store):
    store.build_ann()
    store.add_texts(["a brand new chunk"], [{"document_id": "new"}], ids=["fresh"])
    query = np.asarray(store.embed_query("a brand new chunk"), dtype=np.float32)
    assert store.vector_search(query, 1)[0][0] == "fresh"
    victim = store.vector_search(np.asarray(store.embed_query("chunk 42"), dtype=np.float32), 1)[0][0]
    store.delete([victim])
    assert victim not in [i for i, _ in store.vector_search(np.asarray(store.embed_query("chunk 42"), dtype=np.float32), 10)]
    assert store.ann_status()["covered"] == 2999


def test_another_process_loads_the_saved_graph(store, tmp_path):
    store.build_ann()
    assert ann_path(store.path).is_file()
    reader = EmbeddedVectorStore(store.path, RandomEmbeddings(), ann_min_chunks=500)
    assert reader.ann_status()["enabled"] is True


def test_the_graph_is_rebuilt_when_much_of_the_index_is_new(store):
    store.build_ann()
    store.add_texts([f"extra {n}" for n in range(400)], ids=[f"x{n}" for n in range(400)])
    assert store.ann_status()["stale"] is True  # 400 of 3400 rows are outside the graph
