"""The tool registry: tool modules in, validated LangChain tools and safe calls out.

A tool is a module with a function and a `TOOL_SPEC` (name, description, parameters in
the runbook's format: a JSON-schema type per parameter plus `required` and `enum`).
The registry checks each module, builds a pydantic model from its parameters so every
call is validated before it runs, runs calls with a timeout, and turns every failure
into a `ToolOutcome` error that the graph can tell the user about.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Literal

from langchain_core.tools import StructuredTool
from pydantic import BaseModel, Field, ValidationError, create_model

DEFAULT_MODULES = ("tools.calculator",)
DEFAULT_TIMEOUT_SECONDS = 10.0
_JSON_TYPES: dict[str, type] = {
    "string": str,
    "integer": int,
    "number": float,
    "boolean": bool,
    "object": dict,
    "array": list,
}


class ToolSpecError(ValueError):
    """A tool module whose spec or function is not usable."""


@dataclass(frozen=True)
class ToolOutcome:
    tool: str
    arguments: dict[str, Any]
    ok: bool
    result: Any = None
    error: str | None = None
    duration_ms: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "tool": self.tool,
            "arguments": self.arguments,
            "ok": self.ok,
            "result": self.result,
            "error": self.error,
            "duration_ms": self.duration_ms,
        }


def _arguments_model(name: str, parameters: dict[str, dict[str, Any]]) -> type[BaseModel]:
    fields: dict[str, Any] = {}
    for param, schema in parameters.items():
        if schema.get("enum"):
            annotation: Any = Literal[tuple(schema["enum"])]
        elif schema.get("type") in _JSON_TYPES:
            annotation = _JSON_TYPES[schema["type"]]
        else:
            raise ToolSpecError(f"{name}.{param}: unknown type {schema.get('type')!r}")
        constraints = {k: schema[k] for k in ("maxLength", "minLength") if k in schema}
        constraints = {("max_length" if k == "maxLength" else "min_length"): v for k, v in constraints.items()}
        default = ... if schema.get("required") else schema.get("default")
        if default is None and not schema.get("required"):
            annotation = annotation | None
        fields[param] = (annotation, Field(default, description=schema.get("description"), **constraints))
    return create_model(f"{name}_arguments", __config__={"extra": "forbid"}, **fields)


@dataclass
class RegisteredTool:
    name: str
    description: str
    function: Callable[..., Any]
    arguments: type[BaseModel]
    timeout_seconds: float
    examples: list[str] = field(default_factory=list)
    extract_arguments: Callable[[str], dict[str, Any] | None] | None = None

    @classmethod
    def from_module(cls, module: ModuleType) -> RegisteredTool:
        spec = getattr(module, "TOOL_SPEC", None)
        if not isinstance(spec, dict) or not {"name", "description", "parameters"} <= spec.keys():
            raise ToolSpecError(f"{module.__name__}: TOOL_SPEC needs name, description, parameters")
        name = spec["name"]
        function = getattr(module, name, None)
        if not callable(function):
            raise ToolSpecError(f"{module.__name__}: no function named {name!r}")
        signature = set(inspect.signature(function).parameters)
        if signature != set(spec["parameters"]):
            raise ToolSpecError(
                f"{name}: spec parameters {sorted(spec['parameters'])} != function {sorted(signature)}"
            )
        return cls(
            name=name,
            description=spec["description"],
            function=function,
            arguments=_arguments_model(name, spec["parameters"]),
            timeout_seconds=float(spec.get("timeout_seconds", DEFAULT_TIMEOUT_SECONDS)),
            examples=list(spec.get("examples", [])),
            extract_arguments=getattr(module, "extract_arguments", None),
        )

    def as_langchain_tool(self) -> StructuredTool:
        return StructuredTool.from_function(
            func=self.function, name=self.name, description=self.description, args_schema=self.arguments
        )


class ToolRegistry:
    """The enabled tools, by name."""

    def __init__(self, tools: list[RegisteredTool]):
        self._tools = {t.name: t for t in tools}

    @classmethod
    def from_modules(cls, modules: tuple[str, ...] | list[str] = DEFAULT_MODULES) -> ToolRegistry:
        return cls([RegisteredTool.from_module(importlib.import_module(m)) for m in modules])

    def __contains__(self, name: str) -> bool:
        return name in self._tools

    def __iter__(self):
        return iter(self._tools.values())

    def names(self) -> list[str]:
        return sorted(self._tools)

    def get(self, name: str) -> RegisteredTool:
        return self._tools[name]

    def langchain_tools(self) -> list[StructuredTool]:
        return [t.as_langchain_tool() for t in self._tools.values()]

    async def run(self, name: str, arguments: dict[str, Any]) -> ToolOutcome:
        """Validate and run one call; every failure comes back as an error outcome."""
        started = time.perf_counter()

        def outcome(ok: bool, result: Any = None, error: str | None = None) -> ToolOutcome:
            elapsed = round((time.perf_counter() - started) * 1000, 2)
            return ToolOutcome(name, arguments, ok, result, error, elapsed)

        tool = self._tools.get(name)
        if tool is None:
            return outcome(False, error=f"unknown tool {name!r}")
        try:
            valid = tool.arguments.model_validate(arguments)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            return outcome(False, error=f"invalid arguments: {problems}")
        try:
            result = await asyncio.wait_for(
                asyncio.to_thread(tool.function, **valid.model_dump()), tool.timeout_seconds
            )
        except TimeoutError:
            return outcome(False, error=f"timed out after {tool.timeout_seconds:g} s")
        except Exception as exc:  # a tool's own error is a result for the user, not a crash
            return outcome(False, error=f"{type(exc).__name__}: {exc}")
        return outcome(True, result=result)
