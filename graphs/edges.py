"""Conditional edges: named functions returning the next node's name."""

from __future__ import annotations

from typing import Literal

from graphs.state import ChatState


def after_guard_input(state: ChatState) -> Literal["route", "__end__"]:
    return "__end__" if state.get("route") == "blocked" else "route"


def after_route(state: ChatState) -> Literal["retrieve", "call_tool", "generate"]:
    match state.get("route"):
        case "tool":
            return "call_tool"
        case "direct":
            return "generate"
        case _:
            return "retrieve"
