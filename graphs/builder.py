"""`build_graph()`: the chat state machine, compiled with its dependencies bound.

    guard_input ─► route ─┬─► retrieve ──► generate ─► guard_output [─► summarize]
         │                ├─► call_tool ─► generate
         └─► END          └─► generate (direct reply)

`summarize` is there when HISTORY_SUMMARY is on (graphs/summary.py). Nodes are added
under the names of `graphs.names.Node`, which the service's turn reads the stream by;
each run's context (`graphs.context.RunContext`) reaches the nodes through LangGraph's runtime.
"""

from __future__ import annotations

from functools import partial

from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Checkpointer

from graphs import nodes
from graphs.context import ChatDependencies, RunContext
from graphs.edges import after_guard_input, after_route
from graphs.names import Node
from graphs.state import ChatInput, ChatOutput, ChatState
from graphs.summary import summarize

NODES = {Node.GUARD_INPUT: nodes.guard_input, Node.ROUTE: nodes.route, Node.RETRIEVE: nodes.retrieve,
         Node.CALL_TOOL: nodes.call_tool, Node.GENERATE: nodes.generate, Node.GUARD_OUTPUT: nodes.guard_output}


def build_graph(deps: ChatDependencies, checkpointer: Checkpointer = None) -> CompiledStateGraph:
    """Compile the chat graph with its dependencies bound into every node."""
    builder = StateGraph(ChatState, context_schema=RunContext, input_schema=ChatInput, output_schema=ChatOutput)
    for name, node in NODES.items():
        builder.add_node(name, partial(node, deps=deps))
    builder.add_edge(START, Node.GUARD_INPUT)
    builder.add_conditional_edges(Node.GUARD_INPUT, after_guard_input)
    builder.add_conditional_edges(Node.ROUTE, after_route)
    builder.add_edge(Node.RETRIEVE, Node.GENERATE)
    builder.add_edge(Node.CALL_TOOL, Node.GENERATE)
    builder.add_edge(Node.GENERATE, Node.GUARD_OUTPUT)
    if deps.summarize_history:
        builder.add_node(Node.SUMMARIZE, partial(summarize, deps=deps))
        builder.add_edge(Node.GUARD_OUTPUT, Node.SUMMARIZE)
        builder.add_edge(Node.SUMMARIZE, END)
    else:
        builder.add_edge(Node.GUARD_OUTPUT, END)
    return builder.compile(checkpointer=checkpointer, name="chat")
