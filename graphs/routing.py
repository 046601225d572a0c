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
        self._route_labels: list[tuple[str, str | None]] = []
        texts: list[str] = []
        for route, examples in route_examples.items():
            self._route_labels += [(route, None)] * len(examples)
            texts += examples
        self._route_matrix = np.asarray(embeddings.embed_documents(texts), dtype=np.float32)
        self.set_tool_examples(tool_examples or {})

    def set_tool_examples(self, tool_examples: dict[str, list[str]]) -> None:
        """Route to these tools from now on (the enabled set was reloaded)."""
        labels = list(self._route_labels)
        texts: list[str] = []
        for tool, examples in tool_examples.items():
            labels += [("tool", tool)] * len(examples)
            texts += examples
        matrix = self._route_matrix
        if texts:
            matrix = np.vstack([matrix, np.asarray(self._embeddings.embed_documents(texts), dtype=np.float32)])
        self._table = (labels, matrix)  # one assignment: a decision sees the old table or the new

    def decide(self, message: str) -> RouteDecision:
        vector = np.asarray(self._embeddings.embed_query(message), dtype=np.float32)
        labels, matrix = self._table
        scores = matrix @ vector
        best = int(np.argmax(scores))
        route, tool = labels[best]
        score = float(scores[best])
        if score < self.min_score:  # nothing alike: the knowledge base is the safe default
            return RouteDecision(KNOWLEDGE, None, score)
        return RouteDecision(route, tool, score)
