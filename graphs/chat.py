"""`build_graph()`: the chat state machine; `graph`: the one `langgraph.json` names.

    guard_input ─► route ─┬─► retrieve ──► generate ─► guard_output
         │                ├─► call_tool ─► generate
         └─► END          └─► generate (direct reply)
"""

from __future__ import annotations

from functools import partial
from typing import Any

from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Checkpointer

from graphs import nodes
from graphs.context import ChatDependencies
from graphs.edges import after_guard_input, after_route
from graphs.state import ChatInput, ChatState


def build_graph(deps: ChatDependencies, checkpointer: Checkpointer = None) -> CompiledStateGraph:
    """Compile the chat graph with its dependencies bound into every node."""
    builder = StateGraph(ChatState, input_schema=ChatInput)
    for node in (nodes.guard_input, nodes.route, nodes.retrieve, nodes.call_tool, nodes.generate, nodes.guard_output):
        builder.add_node(node.__name__, partial(node, deps=deps))
    builder.add_edge(START, "guard_input")
    builder.add_conditional_edges("guard_input", after_guard_input)
    builder.add_conditional_edges("route", after_route)
    builder.add_edge("retrieve", "generate")
    builder.add_edge("call_tool", "generate")
    builder.add_edge("generate", "guard_output")
    builder.add_edge("guard_output", END)
    return builder.compile(checkpointer=checkpointer, name="chat")


def make_graph() -> CompiledStateGraph:
    """The graph on the settings' dependencies, with no checkpointer of its own.

    For `langgraph dev` (which persists threads itself) and for notebooks.
    """
    from app.runtime import build_dependencies
    from app.settings import load_settings

    return build_graph(build_dependencies(load_settings()))


def __getattr__(name: str) -> Any:
    # `graph` is built on first use, so importing this module loads no model.
    if name == "graph":
        globals()["graph"] = make_graph()
        return globals()["graph"]
    raise AttributeError(name)
