"""The module-level `graph` that `langgraph.json` names (for `langgraph dev`).

Importing this module builds the service's components from the settings (loading the
models) and compiles the graph on them, with no checkpointer of its own: `langgraph dev`
persists threads itself. The service compiles the same graph with its own checkpointer
(app/chatbot.py); the components live as long as this process.
"""

from __future__ import annotations

from langgraph.graph.state import CompiledStateGraph

from app.services import build_components
from app.settings import load_settings
from graphs.builder import build_graph
from graphs.context import ChatDependencies


def make_graph() -> CompiledStateGraph:
    """The chat graph on the components the settings describe."""
    return build_graph(ChatDependencies.from_components(build_components(load_settings())))


graph = make_graph()
