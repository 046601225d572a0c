"""The tool registry: tool modules in, validated LangChain tools and safe calls out.

A tool is a module with a function and a `TOOL_SPEC` (name, description, parameters in
the runbook's format: a JSON-schema type per parameter plus `required` and `enum`).
The registry checks each module, builds a pydantic model from its parameters so every
call is validated before it runs, runs calls with a timeout, and turns every failure
into a `ToolOutcome` error that the graph can tell the user about.

Optional parts of a tool module:
- `configure(settings)`: called when the service loads the tool (open a database, a graph);
- `extract_arguments(message)`: arguments from plain language, for models without tool calling;
- `TOOL_SPEC["approval"]`: argument values that need a person's approval before the call
  runs (`{"environment": ["production"]}`), and `on_rejected(arguments, decided_by, comment)`
  to record a rejected request.
- `TOOL_SPEC["scope"]`: the API-key scope a caller needs, `chat` or `admin` (the default:
  a tool is admin-only unless it says otherwise); `TOOL_SPEC["side_effects"]`: whether the
  tool changes things (default: it does when it has an approval rule). A caller whose scopes
  are unknown (`scopes=None`) runs only chat tools without side effects.

The enabled set is `DATA_DIR/tools.json` (`chatbot tools register` adds to it), or the
built-in tools; `reload()` reads it again (`POST /admin/tools/reload`). Since a reload
imports its files again, a file outside the project directory or not owned by the user
running the service is refused, and so is a dotted name outside `tools` (tools/loading.py).
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import logging
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field, replace
from types import ModuleType
from typing import Any, Literal

from langchain_core.tools import StructuredTool
from pydantic import BaseModel, Field, ValidationError, create_model

from app.safety.secrets import mask_text
from tools.loading import BUILTIN_MODULES, ToolSpecError, enabled_modules, load_tool_module, loaded_mtime

log = logging.getLogger("chatbot.tools")
DEFAULT_MODULES = BUILTIN_MODULES
DEFAULT_TIMEOUT_SECONDS = 10.0
SCOPES = ("chat", "admin")
DEFAULT_SCOPE = "admin"  # a tool that does not say who may call it is for operators
# The scopes of an in-process operator (the CLI, evaluations): every tool.
OPERATOR_SCOPES = frozenset(SCOPES)
# Who approved the call that is running (tools that record it read this).
approved_by: contextvars.ContextVar[str | None] = contextvars.ContextVar("approved_by", default=None)
_JSON_TYPES: dict[str, type] = {
    "string": str,
    "integer": int,
    "number": float,
    "boolean": bool,
    "object": dict,
    "array": list,
}


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
        return {
            "tool": self.tool,
            "arguments": self.arguments,
            "ok": self.ok,
            "result": self.result,
            "error": self.error,
            "duration_ms": self.duration_ms,
            "outcome": self.outcome,
        }


# Receives every call's outcome and conversation id (the tool-call ledger, metrics).
OnCall = Callable[[ToolOutcome, str | None], None]


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
        approval = spec.get("approval", {})
        if not isinstance(approval, dict) or not set(approval) <= set(spec["parameters"]):
            raise ToolSpecError(f"{name}: approval must map parameters to the values that need approval")
        scope, side_effects = spec.get("scope", DEFAULT_SCOPE), spec.get("side_effects", bool(approval))
        if scope not in SCOPES or not isinstance(side_effects, bool):
            raise ToolSpecError(f"{name}: scope must be one of {', '.join(SCOPES)} and side_effects a boolean")
        return cls(
            name=name,
            description=spec["description"],
            function=function,
            arguments=_arguments_model(name, spec["parameters"]),
            timeout_seconds=float(spec.get("timeout_seconds", DEFAULT_TIMEOUT_SECONDS)),
            examples=list(spec.get("examples", [])),
            extract_arguments=getattr(module, "extract_arguments", None),
            approval={param: list(values) for param, values in approval.items()},
            on_rejected=getattr(module, "on_rejected", None),
            module=module.__name__,
            scope=scope,
            side_effects=side_effects,
        )

    def as_langchain_tool(self) -> StructuredTool:
        return StructuredTool.from_function(
            func=self.function, name=self.name, description=self.description, args_schema=self.arguments
        )


# module name -> (its file's mtime when loaded, id of the settings) when it was last configured
_CONFIGURED: dict[str, tuple[int | None, int]] = {}


def build_tools(modules: list[str] | tuple[str, ...], settings: Any = None, *,
                fresh: bool = False) -> list[RegisteredTool]:
    """Load and check every module, then (with settings) configure the new or reloaded ones.

    Nothing is configured unless every module loads and checks, so a broken set changes
    nothing; a module already configured with these settings is not configured again (its
    databases stay open, once). Any error is a ToolSpecError naming its module.
    """
    loaded: list[tuple[ModuleType, RegisteredTool]] = []
    names: dict[str, str] = {}
    for ref in modules:
        try:
            module = load_tool_module(ref, fresh=fresh)
        except ToolSpecError:
            raise
        except Exception as exc:
            raise ToolSpecError(f"{ref} does not load: {type(exc).__name__}: {exc}") from exc
        tool = RegisteredTool.from_module(module)
        if tool.name in names:
            raise ToolSpecError(f"two tools are named {tool.name!r} ({names[tool.name]}, {ref})")
        names[tool.name] = ref
        loaded.append((module, tool))
    for module, tool in loaded:
        stamp = (loaded_mtime(module.__name__), id(settings))  # a reload resets a module's state
        if settings is None or not callable(getattr(module, "configure", None)) or \
                _CONFIGURED.get(module.__name__) == stamp:
            continue
        try:
            module.configure(settings)
        except Exception as exc:
            raise ToolSpecError(f"{tool.module}: configure failed: {type(exc).__name__}") from exc
        _CONFIGURED[module.__name__] = stamp
    return [tool for _, tool in loaded]


class ToolRegistry:
    """The enabled tools, by name; every call validated, timed out, and reported to `on_call`."""

    def __init__(self, tools: list[RegisteredTool], *, modules: list[str] | tuple[str, ...] = (),
                 settings: Any = None, on_call: OnCall | None = None):
        self._tools = {t.name: t for t in tools}
        self._modules = list(modules)
        self._settings = settings
        self.on_call = on_call
        self._reload_lock = threading.Lock()

    @classmethod
    def from_modules(cls, modules: tuple[str, ...] | list[str] = DEFAULT_MODULES, settings: Any = None,
                     on_call: OnCall | None = None) -> ToolRegistry:
        return cls(build_tools(modules, settings), modules=modules, settings=settings, on_call=on_call)

    @classmethod
    def from_settings(cls, settings: Any, on_call: OnCall | None = None) -> ToolRegistry:
        """The enabled set of DATA_DIR, configured."""
        return cls.from_modules(enabled_modules(settings.data_dir), settings, on_call)

    def reload(self) -> list[str]:
        """Read the enabled set again and load it; on any error the current set stays."""
        with self._reload_lock:
            modules = enabled_modules(self._settings.data_dir) if self._settings is not None else self._modules
            tools = build_tools(modules, self._settings, fresh=True)
            self._tools = {t.name: t for t in tools}  # one assignment: a call sees the old set or the new
            self._modules = list(modules)
        log.info("tools reloaded: %s", ", ".join(self.names()))
        return self.names()

    def __contains__(self, name: str) -> bool:
        return name in self._tools

    def __iter__(self):
        return iter(list(self._tools.values()))

    def names(self) -> list[str]:
        return sorted(self._tools)

    def get(self, name: str) -> RegisteredTool:
        return self._tools[name]

    def langchain_tools(self) -> list[StructuredTool]:
        return [t.as_langchain_tool() for t in self._tools.values()]

    def approval_reason(self, name: str, arguments: dict[str, Any]) -> str | None:
        """Why this call needs approval; None when it does not, or cannot run anyway (bad arguments)."""
        tool = self._tools.get(name)
        if tool is None:
            return None
        try:
            valid = tool.arguments.model_validate(arguments)
        except ValidationError:
            return None
        return tool.approval_reason(valid.model_dump())

    async def _report(self, outcome: ToolOutcome, conversation_id: str | None) -> ToolOutcome:
        if self.on_call is not None:
            try:
                await asyncio.to_thread(self.on_call, outcome, conversation_id)
            except Exception as exc:  # a ledger that is down must not fail the call
                log.error("tool call not recorded: %s", type(exc).__name__)
        return outcome

    async def run(self, name: str, arguments: dict[str, Any], *, conversation_id: str | None = None,
                  decided_by: str | None = None, scopes: Collection[str] | None = None) -> ToolOutcome:
        """Validate and run one call; every failure comes back as an error outcome.

        `scopes`: the caller's API-key scopes. None (the caller is unknown) runs only chat
        tools without side effects; an in-process operator passes `OPERATOR_SCOPES`.
        """
        started = time.perf_counter()

        async def outcome(ok: bool, result: Any = None, error: str | None = None,
                          kind: str = "success", logged: str | None = None) -> ToolOutcome:
            elapsed = round((time.perf_counter() - started) * 1000, 2)
            # The ledger (operators) may get the detail; the caller gets `error` only.
            reported = await self._report(ToolOutcome(name, arguments, ok, result, logged or error, elapsed, kind),
                                          conversation_id)
            return replace(reported, error=error)

        tool = self._tools.get(name)
        if tool is None:
            return await outcome(False, error=f"unknown tool {name!r}", kind="unknown_tool")
        if not tool.may_run(scopes):
            unknown = " (the caller's scopes are unknown)" if scopes is None else ""
            return await outcome(False, error=f"{name} needs an API key with the {tool.scope!r} scope{unknown}",
                                 kind="forbidden")
        try:
            valid = tool.arguments.model_validate(arguments)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            return await outcome(False, error=f"invalid arguments: {problems}", kind="invalid_arguments")
        token = approved_by.set(decided_by)
        try:
            # The thread gets a copy of this context, so the tool can read `approved_by`.
            result = await asyncio.wait_for(
                asyncio.to_thread(tool.function, **valid.model_dump()), tool.timeout_seconds
            )
        except TimeoutError:
            return await outcome(False, error=f"timed out after {tool.timeout_seconds:g} s", kind="timeout")
        except Exception as exc:  # a tool's own error is a result for the user, not a crash
            # Its message may name internal hosts, users, passwords: the caller gets the kind only.
            detail = mask_text(f"{type(exc).__name__}: {exc}")
            log.error("tool %s failed: %s", name, detail)
            return await outcome(False, error=f"the tool failed ({type(exc).__name__})", kind="error",
                                 logged=detail)
        finally:
            approved_by.reset(token)
        return await outcome(True, result=result)

    async def reject(self, name: str, arguments: dict[str, Any], *, decided_by: str, comment: str | None = None,
                     conversation_id: str | None = None) -> ToolOutcome:
        """A person said no: the tool records the rejected request (if it can); nothing runs."""
        started = time.perf_counter()
        tool = self._tools.get(name)
        result: Any = None
        if tool is not None and tool.on_rejected is not None:
            try:
                result = await asyncio.to_thread(tool.on_rejected, arguments, decided_by, comment)
            except Exception as exc:
                log.error("%s: recording the rejection failed: %s", name, type(exc).__name__)
        reason = f"rejected by {decided_by}" + (f": {comment}" if comment else "")
        elapsed = round((time.perf_counter() - started) * 1000, 2)
        return await self._report(ToolOutcome(name, arguments, False, result, reason, elapsed, "rejected"),
                                  conversation_id)
