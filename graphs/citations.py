"""Citations: keep the ones that point at retrieved passages, and add one where missing.

A small base model often answers correctly without writing `[1]`; an answer must
still say where it came from, so an uncited answer is attributed to the passage that
shares the most words with it.
"""

from __future__ import annotations

import re
from typing import Any

from langchain_core.documents import Document

from app.words import words

_MARKER = re.compile(r"\s*\[(\d+)\]")


def _words(text: str) -> set[str]:
    return {w for w in words(text) if len(w) >= 3}


def best_supporting_passage(answer: str, documents: list[Document]) -> int | None:
    """1-based index of the passage sharing the most words with the answer, if any."""
    words = _words(answer)
    if not words:
        return None
    overlaps = [len(words & _words(d.page_content)) for d in documents]
    best = max(range(len(documents)), key=lambda i: overlaps[i], default=None)
    return None if best is None or overlaps[best] == 0 else best + 1


def resolve_citations(answer: str, documents: list[Document]) -> tuple[str, list[int]]:
    """Drop markers that name no retrieved passage; attribute an uncited answer.

    Returns the answer and the cited passage numbers in order of first citation.
    """
    def keep(match: re.Match[str]) -> str:
        return match.group(0) if 1 <= int(match.group(1)) <= len(documents) else ""

    answer = _MARKER.sub(keep, answer).strip()
    cited = list(dict.fromkeys(int(n) for n in _MARKER.findall(answer)))
    if not cited and documents and answer:
        best = best_supporting_passage(answer, documents)
        if best is not None:
            answer = f"{answer} [{best}]"
            cited = [best]
    return answer, cited


def source_entry(index: int, document: Document) -> dict[str, Any]:
    meta = document.metadata
    return {
        "index": index,
        "chunk_id": document.id,  # the cited passage itself (GET /sources/{chunk_id})
        "document_id": meta.get("document_id"),
        "title": meta.get("title"),
        "section": meta.get("section"),
        "source": meta.get("source"),
        "score": meta.get("score"),
    }
