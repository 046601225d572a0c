"""LangSmith tracing: on exactly when LANGSMITH_API_KEY is set.

`configure_tracing` sets LangSmith's own process-wide switch (`langsmith.configure`), which
takes precedence over the LANGSMITH_TRACING / LANGCHAIN_TRACING_V2 environment variables:
a service without a key makes no tracing calls even when those say `true`, and nothing
here writes to the process environment.
"""

from __future__ import annotations

import langsmith

from app.settings import Settings


def configure_tracing(settings: Settings) -> bool:
    """Switch tracing on or off for this process; returns whether it is on."""
    enabled = settings.langsmith_api_key is not None
    langsmith.configure(enabled=enabled)
    return enabled
