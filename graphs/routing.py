"""Routing by embedding similarity, for chat models that cannot call tools.

Each route (and each tool) has example messages; a message goes to the route of its
most similar example. A 270M base model cannot classify reliably, but the sentence
embeddings we already run for retrieval can, in about 5 ms.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from langchain_core.embeddings import Embeddings

KNOWLEDGE = "knowledge"


@dataclass(frozen=True)
class RouteDecision:
    route: str  # "knowledge", "direct" or "tool"
    tool: str | None
    score: float


class EmbeddingRouter:
    """Nearest-example classifier over route and tool example messages."""

    def __init__(
        self,
        embeddings: Embeddings,
        route_examples: dict[str, list[str]],
        tool_examples: dict[str, list[str]] | None = None,
        min_score: float = 0.45,
    ):
        self._embeddings = embeddings
        self.min_score = min_score
        labels: list[tuple[str, str | None]] = []
        texts: list[str] = []
        for route, examples in route_examples.items():
            labels += [(route, None)] * len(examples)
            texts += examples
        for tool, examples in (tool_examples or {}).items():
            labels += [("tool", tool)] * len(examples)
            texts += examples
        self._labels = labels
        self._matrix = np.asarray(embeddings.embed_documents(texts), dtype=np.float32)

    def decide(self, message: str) -> RouteDecision:
        vector = np.asarray(self._embeddings.embed_query(message), dtype=np.float32)
        scores = self._matrix @ vector
        best = int(np.argmax(scores))
        route, tool = self._labels[best]
        score = float(scores[best])
        if score < self.min_score:  # nothing alike: the knowledge base is the safe default
            return RouteDecision(KNOWLEDGE, None, score)
        return RouteDecision(route, tool, score)
