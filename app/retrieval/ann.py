"""Approximate nearest neighbours for large embedded indexes: faiss HNSW beside the SQLite file.

Exact search (one matrix product) is fast enough up to tens of thousands of chunks; above
`ANN_MIN_CHUNKS` the store also keeps an HNSW graph over the chunks' rowids. The graph is
saved in one file next to the index (`<index>.sqlite.hnsw.npz`, replaced atomically) and
records which rowids it covers, so it stays usable as the index changes: rows written
after it was built are searched exactly, rows deleted since are skipped, and `chatbot
index` rebuilds it once more than a tenth of the rows are new.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HNSW_M = 32
EF_CONSTRUCTION = 80
EF_SEARCH = 128
REBUILD_FRACTION = 0.1  # rebuild when this share of the index is not in the graph


def ann_path(index_path: Path) -> Path:
    return index_path.with_name(index_path.name + ".hnsw.npz")


@dataclass
class AnnIndex:
    index: object  # faiss.IndexIDMap over IndexHNSWFlat (inner product of unit vectors)
    rowids: np.ndarray  # the rowids the graph covers

    @classmethod
    def build(cls, vectors: np.ndarray, rowids: np.ndarray) -> AnnIndex:
        import faiss

        hnsw = faiss.IndexHNSWFlat(vectors.shape[1], HNSW_M, faiss.METRIC_INNER_PRODUCT)
        hnsw.hnsw.efConstruction = EF_CONSTRUCTION
        hnsw.hnsw.efSearch = EF_SEARCH
        index = faiss.IndexIDMap(hnsw)
        index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), rowids.astype(np.int64))
        return cls(index, rowids.astype(np.int64))

    def save(self, path: Path) -> None:
        import faiss

        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-", suffix=".npz")
        with os.fdopen(fd, "wb") as out:
            np.savez(out, index=faiss.serialize_index(self.index), rowids=self.rowids)
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> AnnIndex | None:
        if not path.is_file():
            return None
        import faiss

        with np.load(path) as data:
            index = faiss.deserialize_index(data["index"])
            rowids = data["rowids"]
        faiss.downcast_index(index.index).hnsw.efSearch = EF_SEARCH
        return cls(index, rowids)

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(rowids, scores) of the k nearest covered rows; -1 rowids pad a short answer."""
        import faiss

        # One query is one thread's work, but an OpenMP team would still start and spin,
        # taking the core the concurrent lexical search needs (1M chunks: hybrid p95
        # 10.9 -> 6.4 ms). The setting is per thread: builds elsewhere keep every core.
        threads = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1)
        try:
            scores, rowids = self.index.search(np.asarray(query, dtype=np.float32).reshape(1, -1), k)
        finally:
            faiss.omp_set_num_threads(threads)
        return rowids[0], scores[0]
