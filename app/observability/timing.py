"""How long each part of a turn took: the Prometheus histograms and `chatbot profile`'s breakdown.

`timed(part)` measures a part (vector search, LLM generation, tool execution); when a
caller collects a turn's timings (`turn_timings`, set by `chatbot profile`), the same
seconds are added to its breakdown.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Iterator
from contextlib import contextmanager

from app.observability import metrics

# The current turn's seconds per part, when someone (chatbot profile) collects them.
turn_timings: contextvars.ContextVar[dict[str, float] | None] = contextvars.ContextVar("turn_timings", default=None)


def add_timing(part: str, seconds: float) -> None:
    """Add to the current turn's breakdown, if one is being collected."""
    if (collected := turn_timings.get()) is not None:
        collected[part] = collected.get(part, 0.0) + seconds


@contextmanager
def timed(part: str) -> Iterator[None]:
    """Time one part of a turn into its histogram and, when collected, the turn's breakdown."""
    started = time.perf_counter()
    try:
        yield
    finally:
        seconds = time.perf_counter() - started
        if part == "vector_search":  # model and tool times have their own histograms, by provider and tool
            metrics.SEARCH_LATENCY.observe(seconds)
        add_timing(part, seconds)
