"""A tool's specification, checked once: who may call it, what arguments it takes, when a person
must approve a call.

A tool is a module with a function and a `TOOL_SPEC` (name, description, and optionally
`examples`, `timeout_seconds`, `scope`, `side_effects`, `approval`). Its arguments come
from the function's typed signature (`Annotated[str, Field(...)]`, `Literal[...]` for a
choice), as LangChain's `@tool` reads them; a runbook-style spec may instead list
`parameters` (a JSON-schema type per parameter plus `required` and `enum`), which must then
name exactly the function's parameters. Either way every call is validated by one pydantic
model that refuses unknown arguments.

Parameters annotated `InjectedToolArg` are not arguments: the registry passes them, by
name, from what the module's `configure(settings)` returned (a database, a graph) and, as
`approved_by`, the person who approved the call.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Literal

from langchain_core.tools import InjectedToolArg, StructuredTool
from langchain_core.tools.base import create_schema_from_function
from pydantic import BaseModel, ConfigDict, Field, create_model

SCOPES = ("chat", "admin")
DEFAULT_SCOPE = "admin"  # a tool that does not say who may call it is for operators
DEFAULT_TIMEOUT_SECONDS = 10.0
_JSON_TYPES: dict[str, type] = {"string": str, "integer": int, "number": float, "boolean": bool, "object": dict,
                                "array": list}


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
    # success, unknown_tool, forbidden, invalid_arguments, timeout, error, rejected
    outcome: str = "success"

    def as_dict(self) -> dict[str, Any]:
        return {"tool": self.tool, "arguments": self.arguments, "ok": self.ok, "result": self.result,
                "error": self.error, "duration_ms": self.duration_ms, "outcome": self.outcome}


def injected_parameters(function: Callable[..., Any]) -> tuple[str, ...]:
    """The parameters the registry passes, not the caller (`Annotated[..., InjectedToolArg]`)."""
    try:
        hints = typing.get_type_hints(function, include_extras=True)
    except NameError:  # annotations naming what the module cannot resolve: nothing is injected
        return ()
    return tuple(name for name, hint in hints.items() if name != "return" and any(
        meta is InjectedToolArg or isinstance(meta, InjectedToolArg) for meta in typing.get_args(hint)[1:]))


def _spec_model(name: str, parameters: dict[str, dict[str, Any]]) -> type[BaseModel]:
    """The arguments model of a runbook-style `parameters` spec."""
    fields: dict[str, Any] = {}
    for param, schema in parameters.items():
        if schema.get("enum"):
            annotation: Any = Literal[tuple(schema["enum"])]
        elif schema.get("type") in _JSON_TYPES:
            annotation = _JSON_TYPES[schema["type"]]
        else:
            raise ToolSpecError(f"{name}.{param}: unknown type {schema.get('type')!r}")
        constraints = {key: schema[spec_key] for key, spec_key in (("max_length", "maxLength"),
                                                                   ("min_length", "minLength")) if spec_key in schema}
        default = ... if schema.get("required") else schema.get("default")
        if default is None and not schema.get("required"):
            annotation = annotation | None
        fields[param] = (annotation, Field(default, description=schema.get("description"), **constraints))
    return create_model(f"{name}_arguments", __config__={"extra": "forbid"}, **fields)


def _signature_model(name: str, function: Callable[..., Any], injected: tuple[str, ...]) -> type[BaseModel]:
    """The arguments model of a typed signature, as LangChain's `@tool` builds it; unknown arguments refused."""
    base = create_schema_from_function(f"{name}_arguments", function, filter_args=list(injected))
    return type(base.__name__, (base,), {"model_config": ConfigDict(**base.model_config, extra="forbid")})


def arguments_model(name: str, function: Callable[..., Any], spec: dict[str, Any]) -> type[BaseModel]:
    injected = injected_parameters(function)
    own = [p for p in inspect.signature(function).parameters if p not in injected]
    if "parameters" not in spec:
        return _signature_model(name, function, injected)
    if set(own) != set(spec["parameters"]):
        raise ToolSpecError(f"{name}: spec parameters {sorted(spec['parameters'])} != function {sorted(own)}")
    return _spec_model(name, spec["parameters"])


@dataclass
class RegisteredTool:
    name: str
    description: str
    function: Callable[..., Any]
    arguments: type[BaseModel]
    timeout_seconds: float
    examples: list[str] = field(default_factory=list)
    extract_arguments: Callable[[str], dict[str, Any] | None] | None = None
    approval: dict[str, list[Any]] = field(default_factory=dict)
    on_rejected: Callable[..., Any] | None = None
    module: str = ""
    scope: str = DEFAULT_SCOPE  # the API-key scope a caller needs (admin: service-wide data or actions)
    side_effects: bool = False  # it changes things (a deployment), so an unknown caller may not run it

    def may_run(self, scopes: Collection[str] | None) -> bool:
        """Whether a caller with these scopes may run it; None (the caller is unknown): least privilege."""
        if scopes is None:
            return self.scope == "chat" and not self.side_effects
        return self.scope in scopes or "admin" in scopes

    def approval_reason(self, arguments: dict[str, Any]) -> str | None:
        """Why this call needs a person's approval (None: it does not)."""
        for param, values in self.approval.items():
            if arguments.get(param) in values:
                return f"{self.name} with {param}={arguments[param]} needs approval"
        return None

    @classmethod
    def from_module(cls, module: ModuleType) -> RegisteredTool:
        spec = getattr(module, "TOOL_SPEC", None)
        if not isinstance(spec, dict) or not {"name", "description"} <= spec.keys():
            raise ToolSpecError(f"{module.__name__}: TOOL_SPEC needs a name and a description")
        name = spec["name"]
        function = getattr(module, name, None)
        if not callable(function):
            raise ToolSpecError(f"{module.__name__}: no function named {name!r}")
        arguments = arguments_model(name, function, spec)
        approval = spec.get("approval", {})
        if not isinstance(approval, dict) or not set(approval) <= set(arguments.model_fields):
            raise ToolSpecError(f"{name}: approval must map parameters to the values that need approval")
        scope, side_effects = spec.get("scope", DEFAULT_SCOPE), spec.get("side_effects", bool(approval))
        if scope not in SCOPES or not isinstance(side_effects, bool):
            raise ToolSpecError(f"{name}: scope must be one of {', '.join(SCOPES)} and side_effects a boolean")
        return cls(name=name, description=spec["description"], function=function, arguments=arguments,
                   timeout_seconds=float(spec.get("timeout_seconds", DEFAULT_TIMEOUT_SECONDS)),
                   examples=list(spec.get("examples", [])),
                   extract_arguments=getattr(module, "extract_arguments", None),
                   approval={param: list(values) for param, values in approval.items()},
                   on_rejected=getattr(module, "on_rejected", None), module=module.__name__, scope=scope,
                   side_effects=side_effects)

    def as_langchain_tool(self) -> StructuredTool:
        """The tool as a tool-calling model sees it: its arguments, not what the registry injects."""
        return StructuredTool.from_function(func=self.function, name=self.name, description=self.description,
                                            args_schema=self.arguments)
