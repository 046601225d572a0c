"""LangSmith tracing: on exactly when LANGSMITH_API_KEY is set, per run, with no global switch.

Each graph run is wrapped in `langsmith.tracing_context(enabled=...)`, which takes
precedence over the LANGSMITH_TRACING / LANGCHAIN_TRACING_V2 environment variables: a
service without a key makes no tracing calls even when those say `true`, and nothing
here writes to the process environment.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from langsmith import tracing_context

from app.settings import Settings


def tracing_enabled(settings: Settings) -> bool:
    return settings.langsmith_api_key is not None


@contextmanager
def traced(enabled: bool) -> Iterator[None]:
    """Run what is inside with LangSmith tracing on or off, whatever the environment says."""
    with tracing_context(enabled=enabled):
        yield
