"""The module-level `graph` that `langgraph.json` names (for `langgraph dev` and notebooks).

Importing this module builds the graph on the settings' dependencies (loading the
models), with no checkpointer of its own: `langgraph dev` persists threads itself. The
service builds its graph with `graphs.builder.build_graph` and its own checkpointer.
"""

from __future__ import annotations

from langgraph.graph.state import CompiledStateGraph

from app.services import build_dependencies
from app.settings import load_settings
from graphs.builder import build_graph


def make_graph() -> CompiledStateGraph:
    """The chat graph on the dependencies the settings describe."""
    return build_graph(build_dependencies(load_settings()))


graph = make_graph()
