"""Recognise documents a question names ("in the backup and disaster recovery guide").

A question names a document when it contains the document's id (`backup-and-disaster-
recovery`, or the same words with spaces) or its whole title. Retrieval is then limited
to those documents; when that finds nothing the search runs unfiltered.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable

log = logging.getLogger("chatbot.retrieval")
_NON_WORD = re.compile(r"[^a-z0-9]+")
MIN_NAME_WORDS = 2  # a one-word id ("docker") is a topic, not a reference to a page


def _normal(text: str) -> str:
    return f" {_NON_WORD.sub(' ', text.lower()).strip()} "


class DocumentNames:
    """Which documents a question names, from the store's ids and titles (refreshed)."""

    def __init__(self, titles: Callable[[], dict[str, str]], refresh_seconds: float = 30.0):
        self._titles = titles
        self._refresh_seconds = refresh_seconds
        self._loaded_at = float("-inf")
        self._names: list[tuple[str, str]] = []

    def _names_now(self) -> list[tuple[str, str]]:
        if time.monotonic() - self._loaded_at > self._refresh_seconds:
            try:
                titles = self._titles()
            except Exception as exc:  # the store is down: keep the names we had, try again later
                log.warning("cannot refresh document names: %s", type(exc).__name__)
                self._loaded_at = time.monotonic()
                return self._names
            names = []
            for document_id, title in titles.items():
                for name in {_normal(document_id.rsplit("/", 1)[-1]), _normal(title)}:
                    if len(name.split()) >= MIN_NAME_WORDS:
                        names.append((name, document_id))
            self._names, self._loaded_at = names, time.monotonic()
        return self._names

    def __call__(self, question: str) -> list[str]:
        text = _normal(question)
        return sorted({document_id for name, document_id in self._names_now() if name in text})
