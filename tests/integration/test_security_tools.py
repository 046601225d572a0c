"""Tools through the real service, as an attacker would try them: scopes, error texts, tool files."""

import json
import os

import pytest
from typer.testing import CliRunner

from app.cli import cli
from app.settings import load_settings
from tests.integration.conftest import create_keys, running_app

LEAKY_MESSAGE = "connection to server at 10.1.2.3 user=admin password=hunter2 failed"


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def keys(data_dir_copy):
    return create_keys(data_dir_copy, {"alice": ["chat"], "ops": ["admin"]})


def deployments(client):
    return client.app.state.chatbot.services.tools.backends("deploy_model")["backend"].deployments()


def test_a_chat_key_cannot_deploy_even_to_staging(data_dir_copy, keys):
    deploy = {"message": "Deploy churn-classifier to staging"}
    with running_app(data_dir_copy, llm_provider="extractive") as client:
        refused = client.post("/chat", json=deploy, headers=bearer(keys["alice"]))
        after_refusal = deployments(client)
        allowed = client.post("/chat", json=deploy, headers=bearer(keys["ops"]))
        after_admin = deployments(client)
    assert refused.status_code == 200 and refused.json()["tool"]["outcome"] == "forbidden"
    assert "needs an API key with the 'admin' scope" in refused.json()["answer"]
    assert not [d for d in after_refusal if d["environment"] == "staging"]
    assert allowed.json()["tool"]["ok"]
    assert [(d["model"], d["environment"]) for d in after_admin] == [("churn-classifier", "staging")]


class OperationalError(Exception):
    """Stands for a database driver's error."""


class UnreachableBackend:
    def deploy(self, model_name, environment, decided_by):
        raise OperationalError(LEAKY_MESSAGE)


def test_a_tool_error_reaches_the_client_as_its_kind_only(data_dir_copy, tmp_path, monkeypatch):
    log_file = tmp_path / "chatbot.log"
    with running_app(data_dir_copy, llm_provider="extractive", log_file=log_file) as client:
        backends = client.app.state.chatbot.services.tools.backends("deploy_model")
        monkeypatch.setitem(backends, "backend", UnreachableBackend())
        response = client.post("/chat", json={"message": "Deploy churn-classifier to staging"})
    body = response.json()
    assert response.status_code == 200 and body["tool"]["outcome"] == "error"
    assert body["tool"]["error"] == "the tool failed (OperationalError)"
    assert "OperationalError" in body["answer"]
    for leaked in ("hunter2", "10.1.2.3", "user=admin"):
        assert leaked not in response.text
    logged = log_file.read_text()
    assert "connection to server at 10.1.2.3" in logged and "hunter2" not in logged  # the detail, masked
    monkeypatch.setenv("DATA_DIR", str(data_dir_copy))
    ledger = CliRunner().invoke(cli, ["tools", "logs", "--last", "5"])
    assert "OperationalError" in ledger.output and "hunter2" not in ledger.output


def _tool_file(path, marker):
    """A valid tool module that leaves `marker` behind when it is imported."""
    path.write_text(f"""
import pathlib
pathlib.Path({str(marker)!r}).write_text("imported")
TOOL_SPEC = {{"name": "planted", "description": "planted", "scope": "chat",
              "parameters": {{"text": {{"type": "string", "required": True}}}}}}


def planted(text):
    return {{"summary": text}}
""")
    return path


def test_register_refuses_a_file_outside_the_project(tmp_path, monkeypatch):
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    marker = tmp_path / "imported"
    tool = _tool_file(tmp_path / "x.py", marker)
    result = CliRunner().invoke(cli, ["tools", "register", "--tool", str(tool)])
    assert result.exit_code == 1 and "must be inside the project directory" in result.output
    assert not marker.exists() and not (tmp_path / "data" / "tools.json").exists()


def test_register_refuses_a_file_another_user_owns(tmp_path, monkeypatch):
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr("tools.loading.PROJECT_DIR", tmp_path, raising=False)  # inside: only the owner is wrong
    marker = tmp_path / "imported"
    tool = _tool_file(tmp_path / "x.py", marker)
    if os.getuid() == 0:
        os.chown(tool, 4242, -1)
    else:
        monkeypatch.setattr("tools.loading.os.getuid", lambda: tool.stat().st_uid + 1)
    result = CliRunner().invoke(cli, ["tools", "register", "--tool", str(tool)])
    assert result.exit_code == 1 and "not owned by the user running the service" in result.output
    assert not marker.exists() and not (tmp_path / "data" / "tools.json").exists()


def test_an_enabled_set_edited_to_point_outside_is_not_imported(data_dir_copy, tmp_path):
    marker = tmp_path / "imported"
    planted = _tool_file(tmp_path / "planted.py", marker)
    (data_dir_copy / "tools.json").write_text(json.dumps({"enabled": ["tools.calculator", str(planted), "os"]}))
    log_file = tmp_path / "chatbot.log"
    with running_app(data_dir_copy, llm_provider="extractive", log_file=log_file) as client:
        started = client.app.state.chatbot.dependencies.tools.names()
        reloaded = client.post("/admin/tools/reload")
    assert started == ["calculate"] and reloaded.json() == {"tools": ["calculate"]}
    assert not marker.exists()
    errors = [json.loads(line) for line in log_file.read_text().splitlines() if "skipped" in line]
    assert errors and all(line["level"] == "ERROR" for line in errors)
    assert any(str(planted) in line["message"] for line in errors)


def test_in_process_callers_act_with_their_own_scopes(data_dir_copy, monkeypatch):
    """`chatbot ask` is an operator; a turn whose scopes are unknown runs no tool that changes things."""
    import asyncio

    from app.access.keys import Principal
    from app.chatbot import Chatbot

    async def unknown_caller():
        async with Chatbot.open(load_settings(data_dir=data_dir_copy, llm_provider="extractive")) as bot:
            return await bot.ask("Deploy churn-classifier to staging", principal=Principal("unknown-caller", frozenset()))

    assert asyncio.run(unknown_caller()).tool["outcome"] == "forbidden"
    monkeypatch.setenv("DATA_DIR", str(data_dir_copy))
    monkeypatch.setenv("LLM_PROVIDER", "extractive")
    asked = CliRunner().invoke(cli, ["ask", "Deploy churn-classifier to staging"])
    assert asked.exit_code == 0, asked.output
    assert "Deployed churn-classifier version 1.4.0 to staging" in asked.output
