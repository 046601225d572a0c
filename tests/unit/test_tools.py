import asyncio
import types

import pytest

from tools.calculator import CalculationError, calculate, extract_arguments
from tools.registry import OPERATOR_SCOPES, RegisteredTool, ToolRegistry, ToolSpecError


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
    assert run(registry.run("calculate", {"expression": "1/0"})).error == "the tool failed (CalculationError)"
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
    outcome = run(registry.run("sleepy", {"seconds": 1}, scopes=OPERATOR_SCOPES))
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
    assert not run(registry.run("deploy", {"model_name": "m", "environment": "moon"}, scopes=OPERATOR_SCOPES)).ok
    assert run(registry.run("deploy", {"model_name": "m", "environment": "staging"}, scopes=OPERATOR_SCOPES)).ok


def test_a_tool_module_is_loaded_from_a_file_and_the_enabled_set_is_saved(tmp_path, monkeypatch):
    from tools.loading import BUILTIN_MODULES, enabled_modules, load_tool_module, module_ref, save_enabled_modules

    monkeypatch.setattr("tools.loading.PROJECT_DIR", tmp_path)  # tool files are taken from the project only
    path = tmp_path / "echo_tool.py"
    path.write_text("TOOL_SPEC = {'name': 'echo', 'description': 'echo', "
                    "'parameters': {'text': {'type': 'string', 'required': True}}}\n"
                    "def echo(text):\n    return {'summary': text}\n")
    assert enabled_modules(tmp_path) == list(BUILTIN_MODULES)  # nothing saved: the built-ins
    save_enabled_modules(tmp_path, ["tools.calculator", module_ref(str(path))])
    assert enabled_modules(tmp_path) == ["tools.calculator", str(path.resolve())]
    registry = ToolRegistry.from_modules(enabled_modules(tmp_path))
    assert registry.names() == ["calculate", "echo"]
    assert run(registry.run("echo", {"text": "hi"}, scopes=OPERATOR_SCOPES)).result == {"summary": "hi"}
    assert module_ref("tools/deploy.py") == "tools.deploy" and load_tool_module("tools/deploy.py").TOOL_SPEC
    with pytest.raises(ToolSpecError, match="no such file"):
        load_tool_module(str(tmp_path / "missing.py"))
    (tmp_path / "bad_tool.py").write_text("import no_such_package\n")
    with pytest.raises(ToolSpecError, match="does not import"):
        load_tool_module(str(tmp_path / "bad_tool.py"))


def test_a_reload_that_fails_keeps_the_running_set(tmp_path):
    from types import SimpleNamespace

    from tools.loading import save_enabled_modules

    settings = SimpleNamespace(data_dir=tmp_path)
    save_enabled_modules(tmp_path, ["tools.calculator"])
    registry = ToolRegistry.from_settings(settings)
    save_enabled_modules(tmp_path, ["tools.calculator", "tools.calculator"])  # two tools of one name
    with pytest.raises(ToolSpecError, match="two tools are named 'calculate'"):
        registry.reload()
    assert registry.names() == ["calculate"]
    save_enabled_modules(tmp_path, ["tools.calculator", "tools.knowledge_graph"])
    assert registry.reload() == ["calculate", "query_knowledge_graph"]


def test_approval_is_asked_only_for_valid_calls_that_need_it():
    registry = ToolRegistry.from_modules()
    assert registry.approval_reason("deploy_model", {"model_name": "m", "environment": "production"})
    assert registry.approval_reason("deploy_model", {"model_name": "m", "environment": "staging"}) is None
    assert registry.approval_reason("deploy_model", {"model_name": 3, "environment": "production"}) is None
    assert registry.approval_reason("nope", {}) is None
    # Without an approver, the tool itself refuses a production deployment.
    refused = run(registry.run("deploy_model", {"model_name": "m", "environment": "production"},
                               scopes=OPERATOR_SCOPES))
    assert not refused.ok and refused.error == "the tool failed (PermissionError)"


def test_every_outcome_reaches_the_ledger_hook_with_its_kind():
    seen = []
    registry = ToolRegistry.from_modules(["tools.calculator"], on_call=lambda o, c: seen.append((o.outcome, c)))
    run(registry.run("calculate", {"expression": "1+1"}, conversation_id="c1"))
    run(registry.run("calculate", {"expression": "1/0"}))
    run(registry.run("calculate", {"expression": 1}))
    run(registry.run("nope", {}))
    run(registry.reject("calculate", {"expression": "1+1"}, decided_by="ops", comment="no"))
    assert seen == [("success", "c1"), ("error", None), ("invalid_arguments", None), ("unknown_tool", None),
                    ("rejected", None)]


def test_secrets_are_masked_in_logged_arguments():
    from app.ledgers.tool_calls import mask_secrets

    masked = mask_secrets({"api_key": "abc", "query": "use sk-abcdefghijkl now", "nested": {"password": "p"},
                           "items": ["Bearer xyz.abc"], "count": 3})
    assert masked == {"api_key": "***", "query": "use *** now", "nested": {"password": "***"}, "items": ["***"],
                      "count": 3}


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("Deploy churn-classifier to staging", {"model_name": "churn-classifier", "environment": "staging"}),
        ("ship `fraud-scorer` to prod", {"model_name": "fraud-scorer", "environment": "production"}),
        ("How do I deploy a model to Kubernetes?", None),
        ("Deploy the model", None),
    ],
)
def test_deploy_arguments_from_plain_language(message, expected):
    from tools.deploy import extract_arguments as deploy_arguments

    assert deploy_arguments(message) == expected


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("What depends on the Feature Store?", {"entity": "Feature Store", "direction": "dependents"}),
        ("what does `fraud-scorer` rely on", {"entity": "fraud-scorer", "direction": "dependencies"}),
        ("How is Grafana connected to Prometheus?", {"entity": "Grafana", "direction": "related"}),
        ("How do I restore the conversation database?", None),
    ],
)
def test_knowledge_graph_arguments_from_plain_language(message, expected):
    from tools.knowledge_graph import extract_arguments as graph_arguments

    assert graph_arguments(message) == expected


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("How much did we spend on the LLM today?", {"metric": "cost", "period": "today"}),
        ("Show token usage for this month", {"metric": "token_usage", "period": "30d"}),
        ("What are the p99 response times?", {"metric": "llm_latency", "period": "7d"}),
        ("How do I reduce token usage?", None),
    ],
)
def test_analytics_arguments_from_plain_language(message, expected):
    from tools.analytics import extract_arguments as analytics_arguments

    assert analytics_arguments(message) == expected


def _echo_spec(**extra):
    return {"name": "echo", "description": "echo", "parameters": {"text": {"type": "string", "required": True}},
            **extra}


def _echo(text: str):
    return {"summary": text}


def test_a_spec_without_a_scope_is_admin_only():
    tool = RegisteredTool.from_module(_module(_echo_spec(), _echo))
    assert (tool.scope, tool.side_effects) == ("admin", False)
    assert not tool.may_run(["chat"]) and tool.may_run(["admin"]) and not tool.may_run(None)
    with_approval = _echo_spec(approval={"text": ["all"]}, scope="chat")
    assert RegisteredTool.from_module(_module(with_approval, _echo)).side_effects  # approval: it changes things
    for bad in ({"scope": "everyone"}, {"side_effects": "yes"}):
        with pytest.raises(ToolSpecError, match="scope must be one of chat, admin"):
            RegisteredTool.from_module(_module(_echo_spec(**bad), _echo))


def test_the_builtin_tools_declare_who_may_call_them():
    registry = ToolRegistry.from_modules()
    declared = {tool.name: (tool.scope, tool.side_effects) for tool in registry}
    assert declared == {"calculate": ("chat", False), "query_knowledge_graph": ("chat", False),
                        "deploy_model": ("admin", True), "query_analytics": ("admin", False)}


def test_unknown_scopes_run_only_chat_tools_without_side_effects():
    changes = RegisteredTool.from_module(_module(_echo_spec(name="touch", scope="chat", side_effects=True), _echo))
    unscoped = RegisteredTool.from_module(_module(_echo_spec(), _echo))
    registry = ToolRegistry([*ToolRegistry.from_modules(), unscoped, changes])
    refused = {
        "deploy_model": {"model_name": "churn-classifier", "environment": "staging"},
        "query_analytics": {"metric": "cost"},
        "echo": {"text": "hi"},
        "touch": {"text": "hi"},
    }
    for name, arguments in refused.items():
        outcome = run(registry.run(name, arguments, scopes=None))
        assert outcome.outcome == "forbidden" and "scopes are unknown" in outcome.error, name
    assert run(registry.run("calculate", {"expression": "2+2"}, scopes=None)).result["value"] == 4
    assert run(registry.run("touch", {"text": "hi"}, scopes=["chat"])).ok
    assert run(registry.run("echo", {"text": "hi"}, scopes=["chat"])).outcome == "forbidden"
    assert run(registry.run("echo", {"text": "hi"}, scopes=OPERATOR_SCOPES)).ok


class OperationalError(Exception):
    """Stands for a database driver's error, whose message names hosts and credentials."""


def test_a_tool_error_reaches_the_caller_as_its_kind_and_the_ledger_masked():
    def lookup(text: str):
        raise OperationalError("connection to server at 10.1.2.3 user=admin password=hunter2 failed")

    reported = []
    registry = ToolRegistry([RegisteredTool.from_module(_module(_echo_spec(name="lookup", scope="chat"), lookup))],
                            on_call=lambda outcome, _: reported.append(outcome))
    outcome = run(registry.run("lookup", {"text": "x"}))
    assert outcome.outcome == "error" and outcome.error == "the tool failed (OperationalError)"
    assert outcome.as_dict()["error"] == "the tool failed (OperationalError)"
    assert "OperationalError: connection to server at 10.1.2.3" in reported[0].error  # the operators' ledger
    assert "hunter2" not in reported[0].error


def test_invalid_arguments_do_not_echo_their_values():
    registry = ToolRegistry.from_modules(["tools.calculator"])
    outcome = run(registry.run("calculate", {"expression": ["password=hunter2"], "api_key": "sk-live-0123456789"}))
    assert outcome.outcome == "invalid_arguments" and "api_key" in outcome.error
    assert "hunter2" not in outcome.error and "sk-live" not in outcome.error


def test_only_tool_files_of_the_project_and_its_user_are_trusted(tmp_path, monkeypatch):
    from tools.loading import enabled_modules, save_enabled_modules, trusted_tool_file

    project, outside = tmp_path / "project", tmp_path / "outside"
    project.mkdir()
    outside.mkdir()
    monkeypatch.setattr("tools.loading.PROJECT_DIR", project)
    mine, theirs = project / "mine.py", outside / "theirs.py"
    for path in (mine, theirs):
        path.write_text("raise SystemExit('imported')\n")
    (project / "link.py").symlink_to(theirs)  # inside by name, outside once resolved
    assert trusted_tool_file(mine) == mine.resolve()
    for path in (theirs, project / "link.py"):
        with pytest.raises(ToolSpecError, match="inside the project directory"):
            trusted_tool_file(path)
    with pytest.raises(ToolSpecError, match="not a Python file"):
        trusted_tool_file(project / "missing.py")
    with monkeypatch.context() as patched:
        patched.setattr("tools.loading.os.getuid", lambda: mine.stat().st_uid + 1)
        with pytest.raises(ToolSpecError, match="not owned by the user running the service"):
            trusted_tool_file(mine)
    save_enabled_modules(tmp_path, ["tools.calculator", str(mine), str(theirs), str(project / "link.py"), "os"])
    assert enabled_modules(tmp_path) == ["tools.calculator", str(mine)]
