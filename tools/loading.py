"""Finding and importing tool modules: the enabled set (`DATA_DIR/tools.json`), which files
may be imported, and loading a module by dotted name or file path (again, when it changed).

A reload imports its files again, as the service's user: whoever can write such a file runs
code in the service. So a file outside the project directory or not owned by the user
running the service is refused (`trusted_tool_file`), and so is a dotted name outside `tools`.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import logging
import os
import sys
from pathlib import Path
from types import ModuleType

from tools.spec import ToolSpecError

log = logging.getLogger("chatbot.tools")
BUILTIN_MODULES = ("tools.calculator", "tools.knowledge_graph", "tools.deploy", "tools.analytics")
ENABLED_FILE = "tools.json"
TOOLS_DIR = Path(__file__).resolve().parent
PROJECT_DIR = TOOLS_DIR.parent  # tool files are imported from here only


_LOADED_MTIME = "__chatbot_loaded_mtime__"  # a module's file's mtime when it was (re)loaded, kept on the module


def loaded_mtime(module: ModuleType) -> int | None:
    """The mtime of a module's file when it was last (re)loaded: a reload changes it."""
    return getattr(module, _LOADED_MTIME, None)


def _changed_since_loaded(module: ModuleType) -> bool:
    path = getattr(module, "__file__", None)
    return path is not None and Path(path).stat().st_mtime_ns != loaded_mtime(module)


def _remember(module: ModuleType) -> ModuleType:
    if path := getattr(module, "__file__", None):
        setattr(module, _LOADED_MTIME, Path(path).stat().st_mtime_ns)
    return module


def file_module_name(path: Path) -> str:
    """The module name of a tool file outside this package (two files never share one)."""
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:8]
    return f"chatbot_tool_{path.stem}_{digest}"


def load_tool_module(ref: str, *, fresh: bool = False) -> ModuleType:
    """A tool module by dotted name (`tools.calculator`) or file path (`tools/deploy_tool.py`).

    A file in this package is imported as `tools.<name>`; a file elsewhere under its own
    name. With `fresh`, a module whose file changed since it was loaded is loaded again
    (a reload picks up edited code; unchanged modules keep their identity).
    """
    if not ref.endswith(".py"):
        try:
            module = importlib.import_module(ref)
        except ImportError as exc:
            raise ToolSpecError(f"{ref} does not import: {exc}") from exc
        if loaded_mtime(module) is None:
            _remember(module)
        elif fresh and _changed_since_loaded(module):
            module = _remember(importlib.reload(module))
        return module
    path = Path(ref).resolve()
    if not path.is_file():
        raise ToolSpecError(f"no such file: {ref}")
    if path.parent == TOOLS_DIR:
        return load_tool_module(f"tools.{path.stem}", fresh=fresh)
    name = file_module_name(path)
    if name in sys.modules and not (fresh and _changed_since_loaded(sys.modules[name])):
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ToolSpecError(f"{ref} is not a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(name, None)
        raise ToolSpecError(f"{ref} does not import: {type(exc).__name__}: {exc}") from exc
    return _remember(module)


def module_ref(ref: str) -> str:
    """How the enabled set names a module: dotted for this package, an absolute path otherwise."""
    if ref.endswith(".py"):
        path = Path(ref).resolve()
        return f"tools.{path.stem}" if path.parent == TOOLS_DIR else str(path)
    return ref


def trusted_tool_file(ref: str | Path) -> Path:
    """The resolved path of a tool file the service may import, else a ToolSpecError.

    A reload imports the file again, as the service's user: whoever can write it runs code
    in the service. So it must be a `.py` file inside the project directory (symlinks
    resolved) owned by the user running the service.
    """
    path = Path(ref).resolve()
    if path.suffix != ".py" or not path.is_file():
        raise ToolSpecError(f"{ref}: not a Python file")
    if not path.is_relative_to(PROJECT_DIR):
        raise ToolSpecError(f"{ref}: tool files must be inside the project directory {PROJECT_DIR}")
    if path.stat().st_uid != os.getuid():
        raise ToolSpecError(f"{ref}: the file is not owned by the user running the service (uid {os.getuid()})")
    return path


def _trusted_ref(ref: str) -> bool:
    """Whether an entry of the enabled set may be imported (a hand-edited file may name anything)."""
    try:
        if ref.endswith(".py"):
            trusted_tool_file(ref)
        elif not ref.startswith("tools."):
            raise ToolSpecError(f"{ref}: a module by name must be in the tools package")
    except ToolSpecError as exc:
        log.error("%s: skipped %s", ENABLED_FILE, exc)
        return False
    return True


def enabled_modules(data_dir: Path) -> list[str]:
    """The enabled set: `DATA_DIR/tools.json` without the entries it may not import, or the built-in tools."""
    path = data_dir / ENABLED_FILE
    if not path.is_file():
        return list(BUILTIN_MODULES)
    try:
        modules = json.loads(path.read_text(encoding="utf-8"))["enabled"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ToolSpecError(f"{path} must be {{\"enabled\": [module, ...]}}") from exc
    return [str(m) for m in modules if _trusted_ref(str(m))]


def save_enabled_modules(data_dir: Path, modules: list[str]) -> None:
    """Write the enabled set atomically (a reader never sees half a file)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    scratch = data_dir / f".{ENABLED_FILE}.tmp"
    scratch.write_text(json.dumps({"enabled": modules}, indent=2) + "\n", encoding="utf-8")
    scratch.replace(data_dir / ENABLED_FILE)
