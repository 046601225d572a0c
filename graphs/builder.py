"""`build_graph()`: the chat state machine, compiled with its dependencies bound.

    guard_input ─► route ─┬─► retrieve ──► generate ─► guard_output [─► summarize]
         │                ├─► call_tool ─► generate
         └─► END          └─► generate (direct reply)

`summarize` is there when HISTORY_SUMMARY is on (graphs/summary.py).
"""

from __future__ import annotations

from functools import partial

from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Checkpointer

from graphs import nodes
from graphs.context import ChatDependencies
from graphs.edges import after_guard_input, after_route
from graphs.state import ChatInput, ChatOutput, ChatState
from graphs.summary import summarize


def build_graph(deps: ChatDependencies, checkpointer: Checkpointer = None) -> CompiledStateGraph:
    """Compile the chat graph with its dependencies bound into every node."""
    builder = StateGraph(ChatState, input_schema=ChatInput, output_schema=ChatOutput)
    for node in (nodes.guard_input, nodes.route, nodes.retrieve, nodes.call_tool, nodes.generate, nodes.guard_output):
        builder.add_node(node.__name__, partial(node, deps=deps))
    builder.add_edge(START, "guard_input")
    builder.add_conditional_edges("guard_input", after_guard_input)
    builder.add_conditional_edges("route", after_route)
    builder.add_edge("retrieve", "generate")
    builder.add_edge("call_tool", "generate")
    builder.add_edge("generate", "guard_output")
    if deps.summarize_history:
        builder.add_node("summarize", partial(summarize, deps=deps))
        builder.add_edge("guard_output", "summarize")
        builder.add_edge("summarize", END)
    else:
        builder.add_edge("guard_output", END)
    return builder.compile(checkpointer=checkpointer, name="chat")
