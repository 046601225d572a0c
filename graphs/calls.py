"""How nodes call the chat model: never on LangGraph's token stream, naming the run's conversation."""

from __future__ import annotations

from typing import Any

from app.llm.failover import NO_STREAM_TAG

# The `nostream` tag keeps the model's raw tokens out of LangGraph's `messages` stream mode
# (what `langgraph dev` clients read); `generate` streams checked text itself (graphs/stream.py).
MODEL_CONFIG: dict[str, Any] = {"tags": [NO_STREAM_TAG]}


def model_kwargs(conversation_id: str | None) -> dict[str, Any]:
    """The call's keyword arguments: the conversation the usage ledger records the call under
    (the failover model takes it; the streaming path gives a model no run metadata)."""
    return {"config": MODEL_CONFIG, "conversation_id": conversation_id}
