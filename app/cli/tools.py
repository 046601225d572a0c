"""`chatbot tools ...`: the runbook's tool scripts (register_tool, test_tool, view_tool_logs, tool_metrics)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated

import typer

from app.cli.common import console, fail, settings_or_exit
from app.conversations.transcripts import format_time

tools = typer.Typer(help="Tools the chatbot can call.", no_args_is_help=True)


@tools.command("register")
def register(tool: Annotated[Path, typer.Option(help="the tool module, e.g. tools/deploy_tool.py")]) -> None:
    """Check a tool module (imports, spec, parameters match the function) and enable it.

    Only a file inside the project directory and owned by the user running this command
    (the service's user) is taken: the service imports it again on every reload.
    """
    from tools.loading import (
        ToolSpecError,
        enabled_modules,
        file_module_name,
        load_tool_module,
        module_ref,
        save_enabled_modules,
        trusted_tool_file,
    )
    from tools.registry import RegisteredTool, build_tools

    settings = settings_or_exit()
    try:
        trusted_tool_file(tool)  # before anything imports it
        checked = RegisteredTool.from_module(load_tool_module(str(tool), fresh=True))
        enabled = enabled_modules(settings.data_dir)
        by_name = {t.name: t.module for t in build_tools(enabled)}
    except ToolSpecError as exc:
        fail(f"not registered: {exc}", code=1)
    ref = module_ref(str(tool))
    # A module whose tool has the name of an enabled one replaces it (a new version of the tool).
    owner = by_name.get(checked.name)
    replaced = next((r for r in enabled if r != ref and owner in (r, file_module_name(Path(r)))), None)
    modules = [r for r in enabled if r != replaced]
    if ref not in modules:
        modules.append(ref)
    save_enabled_modules(settings.data_dir, modules)
    params = ", ".join(checked.arguments.model_fields)
    print(f"registered {checked.name}({params}) from {ref}" + (f", replacing {replaced}" if replaced else ""))
    console.print("the service loads it on restart, or now with POST /admin/tools/reload")


@tools.command("list")
def list_() -> None:
    """The enabled tools with their parameters, timeout, approval rule and scope."""
    from tools.registry import ToolRegistry, ToolSpecError

    try:
        registry = ToolRegistry.from_settings(settings_or_exit())
    except ToolSpecError as exc:
        fail(f"the enabled set does not load: {exc}", code=1)
    for tool in registry:
        params = ", ".join(tool.arguments.model_fields)
        approval = f"; approval: {tool.approval}" if tool.approval else ""
        scope = f"scope {tool.scope}" + (", side effects" if tool.side_effects else "")
        print(f"{tool.name}({params})  timeout {tool.timeout_seconds:g} s{approval}  {scope}  [{tool.module}]")
        print(f"    {tool.description}")


@tools.command("test")
def test(
    tool_name: Annotated[str, typer.Option(help="the tool to call")],
    params: Annotated[str, typer.Option(help="its arguments as a JSON object")] = "{}",
    approve_as: Annotated[str | None, typer.Option(help="approve a call that needs approval, as this person")] = None,
) -> None:
    """Run one call, as an operator (every scope), and print its outcome as JSON (exit 1 when it failed)."""
    from app.ledgers.tool_calls import ToolCallLedger
    from app.services import tool_call_recorder
    from tools.registry import OPERATOR_SCOPES, ToolRegistry, ToolSpecError

    try:
        arguments = json.loads(params)
    except ValueError:
        fail("--params must be a JSON object, e.g. '{\"model_name\": \"churn-classifier\"}'")
    if not isinstance(arguments, dict):
        fail("--params must be a JSON object")
    settings = settings_or_exit()
    ledger = ToolCallLedger(settings.ledger_url)
    try:
        registry = ToolRegistry.from_settings(settings, on_call=tool_call_recorder(ledger))
        if (reason := registry.approval_reason(tool_name, arguments)) and approve_as is None:
            fail(f"{reason}: pass --approve-as NAME to approve it", code=1)
        outcome = asyncio.run(registry.run(tool_name, arguments, decided_by=approve_as, scopes=OPERATOR_SCOPES))
    except ToolSpecError as exc:
        fail(f"the enabled set does not load: {exc}", code=1)
    finally:
        ledger.close()
    print(json.dumps(outcome.as_dict(), indent=2, default=str))
    if not outcome.ok:
        raise typer.Exit(1)


@tools.command("logs")
def logs(last: Annotated[int, typer.Option(min=1, max=10_000, help="how many calls")] = 100) -> None:
    """The last tool calls: time, tool, outcome, duration, arguments (secrets masked), error."""
    from app.ledgers.tool_calls import ToolCallLedger

    ledger = ToolCallLedger(settings_or_exit().ledger_url)
    try:
        rows = ledger.last(last)
    finally:
        ledger.close()
    for row in rows:
        error = f"  error: {row['error']}" if row["error"] else ""
        print(f"{format_time(row['at'])}  {row['tool']}  {row['outcome']}  {row['duration_ms']:.0f} ms  "
              f"{row['arguments']}{error}")
    console.print(f"{len(rows)} call(s)")


@tools.command("metrics")
def metrics(days: Annotated[int, typer.Option(min=1, max=366, help="over the last N days")] = 7) -> None:
    """Success and failure rates and mean duration per tool (runbook: tool_metrics.py)."""
    from app.ledgers.tool_calls import ToolCallLedger

    ledger = ToolCallLedger(settings_or_exit().ledger_url)
    try:
        rows = ledger.metrics(days)
    finally:
        ledger.close()
    for row in rows:
        print(f"Tool: {row['tool']}")
        print(f"  Success: {row['success_pct']:.1f}%")
        print(f"  Failures: {row['failure_pct']:.1f}%")
        print(f"  Avg duration: {row['avg_duration_ms'] / 1000:.2f}s")
        print(f"  Calls: {row['calls']:,}")
    if not rows:
        print(f"no tool calls in the last {days} day(s)")
