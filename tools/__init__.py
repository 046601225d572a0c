"""Tools the graph's `call_tool` node can run; see `tools.registry`."""

from tools.registry import ToolOutcome, ToolRegistry, ToolSpecError

__all__ = ["ToolOutcome", "ToolRegistry", "ToolSpecError"]
