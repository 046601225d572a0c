import asyncio
import types

import pytest

from tools.calculator import CalculationError, calculate, extract_arguments
from tools.registry import RegisteredTool, ToolRegistry, ToolSpecError


@pytest.mark.parametrize(
    ("expression", "value"),
    [("17 * 23", 391), ("(3 + 4) * 12", 84), ("2 ** 10", 1024), ("7 / 2", 3.5), ("-5 + 2", -3)],
)
def test_calculate_evaluates_arithmetic(expression, value):
    assert calculate(expression)["value"] == value


@pytest.mark.parametrize("expression", ["__import__('os')", "2 ** 100000", "1 / 0", "x + 1", "9" * 300])
def test_calculate_rejects_anything_but_bounded_arithmetic(expression):
    with pytest.raises(CalculationError):
        calculate(expression)


@pytest.mark.parametrize(
    ("message", "expression"),
    [("What is 17 * 23?", "17 * 23"), ("calculate 15% of 80", "(15 / 100 * 80)"),
     ("How much is 48 times 12?", "48 * 12"), ("What is 99 divided by 3?", "99 / 3")],
)
def test_arguments_are_extracted_from_plain_language(message, expression):
    assert extract_arguments(message) == {"expression": expression}


def test_no_arguments_in_a_message_without_arithmetic():
    assert extract_arguments("How do I deploy to Kubernetes?") is None


def run(coro):
    return asyncio.run(coro)


def test_registry_validates_arguments_before_running():
    registry = ToolRegistry.from_modules()
    bad = run(registry.run("calculate", {"expression": 42}))
    assert not bad.ok and "invalid arguments" in bad.error
    extra = run(registry.run("calculate", {"expression": "1+1", "shell": "rm -rf /"}))
    assert not extra.ok and "shell" in extra.error
    good = run(registry.run("calculate", {"expression": "1+1"}))
    assert good.ok and good.result["value"] == 2


def test_tool_errors_and_unknown_tools_are_outcomes_not_exceptions():
    registry = ToolRegistry.from_modules()
    assert "division by zero" in run(registry.run("calculate", {"expression": "1/0"})).error
    assert "unknown tool" in run(registry.run("drop_tables", {})).error


def _module(spec, function):
    module = types.ModuleType("fake_tool")
    module.TOOL_SPEC = spec
    setattr(module, spec["name"], function)
    return module


def test_a_slow_tool_times_out():
    import time

    def sleepy(seconds: float):
        time.sleep(seconds)
        return "done"

    spec = {"name": "sleepy", "description": "sleeps", "timeout_seconds": 0.1,
            "parameters": {"seconds": {"type": "number", "required": True}}}
    registry = ToolRegistry([RegisteredTool.from_module(_module(spec, sleepy))])
    outcome = run(registry.run("sleepy", {"seconds": 1}))
    assert not outcome.ok and "timed out" in outcome.error


def test_spec_must_match_the_function_signature():
    def deploy(model_name: str):
        return {}

    spec = {"name": "deploy", "description": "d", "parameters": {
        "model_name": {"type": "string", "required": True},
        "environment": {"type": "string", "enum": ["staging", "production"]}}}
    with pytest.raises(ToolSpecError, match="environment"):
        RegisteredTool.from_module(_module(spec, deploy))


def test_enum_parameters_are_enforced():
    def deploy(model_name: str, environment: str):
        return {"model": model_name, "environment": environment}

    spec = {"name": "deploy", "description": "d", "parameters": {
        "model_name": {"type": "string", "required": True},
        "environment": {"type": "string", "enum": ["staging", "production"], "required": True}}}
    registry = ToolRegistry([RegisteredTool.from_module(_module(spec, deploy))])
    assert not run(registry.run("deploy", {"model_name": "m", "environment": "moon"})).ok
    assert run(registry.run("deploy", {"model_name": "m", "environment": "staging"})).ok
