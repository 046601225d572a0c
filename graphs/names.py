"""The graph's node names: the builder adds nodes under them, and the turn reads the stream by them."""

from __future__ import annotations

from enum import StrEnum


class Node(StrEnum):
    GUARD_INPUT = "guard_input"
    ROUTE = "route"
    RETRIEVE = "retrieve"
    CALL_TOOL = "call_tool"
    GENERATE = "generate"
    GUARD_OUTPUT = "guard_output"
    SUMMARIZE = "summarize"
