"""The tool registry: the enabled tools, their back-ends, and safe calls.

The registry loads the enabled modules (tools/loading.py), checks each (tools/spec.py),
configures the ones that need a back-end (`configure(settings)` returns the objects the
tool's injected parameters receive: a database, the knowledge graph) and owns what they
return: a reload configures only new or changed modules and closes what it replaces, and
`close()` closes the rest. Every call is validated, scope-checked, run with a timeout on a
worker thread, and reported (`on_call`: the tool-call ledger and metrics); every failure
comes back as a `ToolOutcome` the graph can tell the user about.

The enabled set is `DATA_DIR/tools.json` (`chatbot tools register` adds to it), or the
built-in tools; `reload()` reads it again (`POST /admin/tools/reload`).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import threading
import time
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, replace
from types import ModuleType
from typing import Any

from langchain_core.tools import StructuredTool
from pydantic import ValidationError

from app.safety.secrets import mask_text
from tools.loading import BUILTIN_MODULES, enabled_modules, load_tool_module, loaded_mtime
from tools.spec import SCOPES, RegisteredTool, ToolOutcome, ToolSpecError

__all__ = ["OPERATOR_SCOPES", "RegisteredTool", "ToolOutcome", "ToolRegistry", "ToolSpecError", "build_tools"]

log = logging.getLogger("chatbot.tools")
DEFAULT_MODULES = BUILTIN_MODULES
# The scopes of an in-process operator (the CLI, evaluations): every tool.
OPERATOR_SCOPES = frozenset(SCOPES)

# Receives every call's outcome and conversation id (the tool-call ledger, metrics).
OnCall = Callable[[ToolOutcome, str | None], None]


def _load(modules: list[str] | tuple[str, ...], fresh: bool) -> list[tuple[ModuleType, RegisteredTool]]:
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
    return loaded


def build_tools(modules: list[str] | tuple[str, ...], *, fresh: bool = False) -> list[RegisteredTool]:
    """Load and check every module (nothing is configured); any error is a ToolSpecError naming its module."""
    return [tool for _, tool in _load(modules, fresh)]


@dataclass(frozen=True)
class Backends:
    """What a module's `configure` returned, and the version of the module it was made for."""

    stamp: int | None
    resources: dict[str, Any]

    def close(self) -> None:
        for resource in self.resources.values():
            if callable(close := getattr(resource, "close", None)):
                close()


def _call(function: Callable[..., Any], arguments: dict[str, Any], offered: dict[str, Any]) -> Any:
    """Call with the arguments and those of `offered` the function declares (its injected parameters)."""
    declared = inspect.signature(function).parameters
    return function(**arguments, **{k: v for k, v in offered.items() if k in declared})


class ToolRegistry:
    """The enabled tools, by name; every call validated, timed out, and reported to `on_call`."""

    def __init__(self, tools: list[RegisteredTool], *, modules: list[str] | tuple[str, ...] = (),
                 settings: Any = None, on_call: OnCall | None = None):
        self._tools = {t.name: t for t in tools}
        self._modules = list(modules)
        self._settings = settings
        self._backends: dict[str, Backends] = {}  # module name -> its configured back-ends
        self.on_call = on_call
        self._reload_lock = threading.Lock()

    @classmethod
    def from_modules(cls, modules: tuple[str, ...] | list[str] = DEFAULT_MODULES, settings: Any = None,
                     on_call: OnCall | None = None) -> ToolRegistry:
        registry = cls([], modules=modules, settings=settings, on_call=on_call)
        registry._install(list(modules), fresh=False)
        return registry

    @classmethod
    def from_settings(cls, settings: Any, on_call: OnCall | None = None) -> ToolRegistry:
        """The enabled set of DATA_DIR, configured."""
        return cls.from_modules(enabled_modules(settings.data_dir), settings, on_call)

    def _configure(self, loaded: list[tuple[ModuleType, RegisteredTool]]) -> dict[str, Backends]:
        """Back-ends for every module that needs one: kept where the module did not change."""
        backends: dict[str, Backends] = {}
        try:
            for module, tool in loaded:
                configure = getattr(module, "configure", None)
                if self._settings is None or not callable(configure):
                    continue
                stamp, kept = loaded_mtime(module), self._backends.get(module.__name__)
                if kept is not None and kept.stamp == stamp:
                    backends[module.__name__] = kept
                    continue
                try:
                    backends[module.__name__] = Backends(stamp, dict(configure(self._settings) or {}))
                except Exception as exc:
                    raise ToolSpecError(f"{tool.module}: configure failed: {type(exc).__name__}") from exc
        except ToolSpecError:
            for name, made in backends.items():
                if self._backends.get(name) is not made:
                    made.close()
            raise
        return backends

    def _install(self, modules: list[str], fresh: bool) -> None:
        """Load, check and configure `modules`; on any error the current set stays as it was."""
        loaded = _load(modules, fresh)
        backends = self._configure(loaded)
        replaced = [b for name, b in self._backends.items() if backends.get(name) is not b]
        # One assignment each: a call sees the old set or the new.
        self._tools = {tool.name: tool for _, tool in loaded}
        self._backends, self._modules = backends, list(modules)
        for old in replaced:
            old.close()

    def reload(self) -> list[str]:
        """Read the enabled set again and load it; on any error the current set stays."""
        with self._reload_lock:
            modules = enabled_modules(self._settings.data_dir) if self._settings is not None else self._modules
            self._install(modules, fresh=True)
        log.info("tools reloaded: %s", ", ".join(self.names()))
        return self.names()

    def close(self) -> None:
        for backends in self._backends.values():
            backends.close()
        self._backends = {}

    def __contains__(self, name: str) -> bool:
        return name in self._tools

    def __iter__(self) -> Iterator[RegisteredTool]:
        return iter(list(self._tools.values()))

    def names(self) -> list[str]:
        return sorted(self._tools)

    def get(self, name: str) -> RegisteredTool:
        return self._tools[name]

    def langchain_tools(self) -> list[StructuredTool]:
        return [t.as_langchain_tool() for t in self._tools.values()]

    def backends(self, name: str) -> dict[str, Any]:
        """The back-ends the tool `name` runs with (what its module's `configure` returned), by
        parameter name; the registry owns and closes them."""
        backends = self._backends.get(self._tools[name].module)
        return backends.resources if backends is not None else {}

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
        `decided_by`: who approved the call (a tool receives it as `approved_by`).
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
        offered = {**self.backends(name), "approved_by": decided_by}
        try:
            result = await asyncio.wait_for(asyncio.to_thread(_call, tool.function, valid.model_dump(), offered),
                                            tool.timeout_seconds)
        except TimeoutError:
            return await outcome(False, error=f"timed out after {tool.timeout_seconds:g} s", kind="timeout")
        except Exception as exc:  # a tool's own error is a result for the user, not a crash
            # Its message may name internal hosts, users, passwords: the caller gets the kind only.
            detail = mask_text(f"{type(exc).__name__}: {exc}")
            log.error("tool %s failed: %s", name, detail)
            return await outcome(False, error=f"the tool failed ({type(exc).__name__})", kind="error",
                                 logged=detail)
        return await outcome(True, result=result)

    async def reject(self, name: str, arguments: dict[str, Any], *, decided_by: str, comment: str | None = None,
                     conversation_id: str | None = None) -> ToolOutcome:
        """A person said no: the tool records the rejected request (if it can); nothing runs."""
        started = time.perf_counter()
        tool = self._tools.get(name)
        result: Any = None
        if tool is not None and tool.on_rejected is not None:
            try:
                result = await asyncio.to_thread(_call, tool.on_rejected, {"arguments": arguments, "decided_by":
                                                 decided_by, "comment": comment}, self.backends(name))
            except Exception as exc:
                log.error("%s: recording the rejection failed: %s", name, type(exc).__name__)
        reason = f"rejected by {decided_by}" + (f": {comment}" if comment else "")
        elapsed = round((time.perf_counter() - started) * 1000, 2)
        return await self._report(ToolOutcome(name, arguments, False, result, reason, elapsed, "rejected"),
                                  conversation_id)
