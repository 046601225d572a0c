"""What the graph writes to LangGraph's `custom` stream while it answers.

`generate` writes the answer's text as it is written (`{"token": text}`, only text the
output guard leaves as it is), and `{"restart": {"provider", "reason"}}` when a provider
failed mid-answer and the next one starts over. These dicts are what `langgraph dev`
clients read in `custom` mode; the service's turn turns them into its typed events.
"""

from __future__ import annotations

from typing import Any

from langgraph.types import StreamWriter


def write_token(writer: StreamWriter, text: str) -> None:
    writer({"token": text})


def write_restart(writer: StreamWriter, provider: str, reason: str) -> None:
    writer({"restart": {"provider": provider, "reason": reason}})


def token_of(item: Any) -> str | None:
    match item:
        case {"token": str(text)}:
            return text
    return None


def restart_of(item: Any) -> dict[str, str] | None:
    match item:
        case {"restart": {"provider": str(provider), "reason": str(reason)}}:
            return {"provider": provider, "reason": reason}
    return None
