"""Conditional edges: named functions returning the next node's name (the `Literal`s let
LangGraph draw the graph; the values are `graphs.names.Node`'s)."""

from __future__ import annotations

from typing import Literal

from langgraph.graph import END

from graphs.names import Node
from graphs.state import ChatState


def after_guard_input(state: ChatState) -> Literal["route", "__end__"]:
    return END if state.get("route") == "blocked" else Node.ROUTE


def after_route(state: ChatState) -> Literal["retrieve", "call_tool", "generate"]:
    match state.get("route"):
        case "tool":
            return Node.CALL_TOOL
        case "direct":
            return Node.GENERATE
        case _:
            return Node.RETRIEVE
