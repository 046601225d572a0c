"""The three tools through the real service: routing, their real backends, approval, ledgers, metrics."""

import functools
import json
import uuid

import pytest

from app.cli import cli
from tests.integration.conftest import running_app, sse_events


@pytest.fixture
def service(data_dir_copy):
    def start(**overrides):
        return running_app(data_dir_copy, **{"llm_provider": "extractive", **overrides})

    return start


def new_id() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


def deployments(client):
    return client.app.state.chatbot.services.tools.backends("deploy_model")["backend"].deployments()


def counter(client, outcome: str, tool: str = "deploy_model") -> float:
    """A tool-call counter from /metrics (the registry of metrics lives as long as the process)."""
    line = f'chatbot_tool_calls_total{{outcome="{outcome}",tool="{tool}"}} '
    found = [row for row in client.get("/metrics").text.splitlines() if row.startswith(line)]
    return float(found[0].split()[-1]) if found else 0.0


def ask(client, message, conversation_id=None):
    body = {"message": message, **({"conversation_id": conversation_id} if conversation_id else {})}
    response = client.post("/chat", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def test_the_knowledge_graph_answers_what_depends_on_what_with_sources(service):
    with service() as client:
        body = ask(client, "What depends on PostgreSQL?")
    assert body["route"] == "tool" and body["tool"]["tool"] == "query_knowledge_graph"
    result = body["tool"]["result"]
    dependents = {r["entity"]: r["documents"] for r in result["dependents"]}
    assert {"Chatbot Service", "Feature Store", "MLflow Model Registry"} <= set(dependents)
    assert "model-registry-and-versioning" in dependents["MLflow Model Registry"]  # stated in prose there
    assert all(e["evidence"] for e in result["edges"])
    assert "Chatbot Service" in body["answer"] and "service-catalog" in body["answer"]


def test_a_staging_deployment_is_recorded_in_the_model_registry(service):
    with service() as client:
        body = ask(client, "Deploy churn-classifier to staging")
        rows = deployments(client)
    assert body["tool"]["ok"] and body["tool"]["arguments"] == {"model_name": "churn-classifier",
                                                                 "environment": "staging"}
    latest = rows[0]
    assert (latest["model"], latest["version"], latest["environment"], latest["status"]) == (
        "churn-classifier", "1.4.0", "staging", "deployed")
    assert latest["endpoint"] in body["answer"]


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_a_production_deployment_waits_for_approval_across_a_restart(service, database, request):
    conversation = new_id()
    if database == "postgresql":  # checkpoints, the model registry and the ledgers all in PostgreSQL
        url = request.getfixturevalue("postgres_url")
        service = functools.partial(service, database_url=url)
    with service() as client:
        with client.stream("POST", "/chat/stream", json={"message": "Please deploy the fraud-scorer model to "
                                                         "production", "conversation_id": conversation}) as r:
            events = sse_events(r)
        names = [name for name, _ in events]
        assert "approval_required" in names and names[-1] == "final"
        final = events[-1][1]
        assert final["pending_approval"]["arguments"] == {"model_name": "fraud-scorer", "environment": "production"}
        assert not [d for d in deployments(client) if d["model"] == "fraud-scorer"]  # nothing ran yet
        # While it waits, the conversation takes no other message (on any transport).
        blocked = client.post("/chat", json={"message": "Hello?", "conversation_id": conversation})
        assert blocked.status_code == 409 and blocked.json()["error"]["code"] == "approval_pending"
        assert client.post("/chat/stream", json={"message": "Hi", "conversation_id": conversation}).status_code == 409

    with service() as client:  # a new process: the request survived in the checkpoint
        approved = client.post(f"/conversations/{conversation}/approve", json={"approved": True})
        assert approved.status_code == 200, approved.text
        body = approved.json()
        rows = [d for d in deployments(client) if d["model"] == "fraud-scorer"]
        again = client.post(f"/conversations/{conversation}/approve", json={"approved": True})
        messages = client.get(f"/conversations/{conversation}").json()["messages"]
    assert body["tool"]["ok"] and body["pending_approval"] is None
    assert "Deployed fraud-scorer version 2.1.0 to production, approved by local" in body["answer"]
    assert [(d["environment"], d["status"], d["decided_by"]) for d in rows] == [("production", "deployed", "local")]
    assert again.status_code == 409 and again.json()["error"]["code"] == "nothing_to_approve"
    # One question, one answer: the turn is stored once.
    assert [m["role"] for m in messages] == ["user", "assistant"] and messages[1]["content"] == body["answer"]


def test_a_rejected_deployment_is_recorded_and_the_user_is_told(service):
    conversation = new_id()
    with service() as client:
        pending = ask(client, "Roll out intent-clf to prod", conversation)
        assert pending["pending_approval"]["reason"].startswith("deploy_model with environment=production")
        with client.websocket_connect("/ws/chat") as ws:  # the decision over the WebSocket
            ws.send_text(json.dumps({"conversation_id": conversation, "approved": False,
                                     "comment": "change freeze"}))
            frames = []
            while not frames or frames[-1]["event"] not in ("final", "error"):
                frames.append(ws.receive_json())
        rows = [d for d in deployments(client) if d["model"] == "intent-clf"]
        after = ask(client, "Thanks", conversation)  # the conversation goes on
    final = frames[-1]["data"]
    assert frames[-1]["event"] == "final" and final["tool"]["outcome"] == "rejected"
    assert "rejected by local (change freeze); nothing was deployed" in final["answer"]
    assert [(d["environment"], d["status"], d["comment"]) for d in rows] == [("production", "rejected",
                                                                              "change freeze")]
    assert after["route"] == "direct"


def test_analytics_answers_from_the_ledgers(service):
    with service() as client:
        ask(client, "What is the RPO for conversations?")
        ask(client, "Deploy churn-classifier to staging")
        tokens = ask(client, "How many tokens did we use this week?")
        tools = ask(client, "What are the tool success rates this month?")
        conversations = ask(client, "How many conversations were started today?")
    assert tokens["tool"]["arguments"] == {"metric": "token_usage", "period": "7d"}
    assert tokens["tool"]["result"]["calls"] >= 1 and "Token usage from" in tokens["answer"]
    rates = {t["tool"]: t for t in tools["tool"]["result"]["tools"]}
    assert rates["deploy_model"]["success_pct"] == 100.0 and rates["query_analytics"]["calls"] >= 1
    assert conversations["tool"]["result"]["total"] >= 4


def test_tool_calls_are_logged_masked_and_counted(service, data_dir_copy, monkeypatch):
    from typer.testing import CliRunner

    with service() as client:
        before = {kind: counter(client, kind) for kind in ("success", "error")}
        ask(client, "Deploy churn-classifier to staging")
        ask(client, "Deploy no-such-model to staging")
        after = {kind: counter(client, kind) for kind in ("success", "error")}
        services = client.app.state.chatbot.services
        outcome = client.portal.call(services.tools.run, "query_knowledge_graph",
                                     {"entity": "Redis", "api_key": "sk-live-secretsecret"})
    assert not outcome.ok and outcome.outcome == "invalid_arguments"
    assert {kind: after[kind] - before[kind] for kind in after} == {"success": 1, "error": 1}
    monkeypatch.setenv("DATA_DIR", str(data_dir_copy))
    logs = CliRunner().invoke(cli, ["tools", "logs", "--last", "10"])
    assert logs.exit_code == 0, logs.output
    assert "deploy_model  success" in logs.output and "no model named 'no-such-model'" in logs.output
    assert '"api_key": "***"' in logs.output and "sk-live" not in logs.output
    report = CliRunner().invoke(cli, ["tools", "metrics", "--days", "7"])
    assert "Tool: deploy_model\n  Success: 50.0%\n  Failures: 50.0%\n  Avg duration: " in report.output


def test_a_registered_tool_is_loaded_by_reload_without_a_restart(service, data_dir_copy, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    module = tmp_path / "uptime_tool.py"
    module.write_text('''
TOOL_SPEC = {
    "name": "service_uptime",
    "description": "Report the uptime of a service",
    "parameters": {"service": {"type": "string", "required": True, "maxLength": 50}},
    "examples": ["What is the uptime of the feature store?", "How long has redis been up?",
                 "Show me the uptime of grafana", "uptime of the chatbot service"],
}


def service_uptime(service: str):
    return {"service": service, "uptime_days": 42, "summary": f"{service} has been up for 42 days."}


def extract_arguments(message):
    words = message.rstrip("?").split()
    return {"service": words[-1]} if "uptime" in message.lower() else None
''')
    monkeypatch.setattr("tools.loading.PROJECT_DIR", tmp_path)  # tool files are taken from the project only
    broken = tmp_path / "broken_tool.py"
    broken.write_text("TOOL_SPEC = {'name': 'broken', 'description': 'x', 'parameters': {'a': {'type': 'string'}}}\n"
                      "def broken(b):\n    return b\n")
    monkeypatch.setenv("DATA_DIR", str(data_dir_copy))
    with service() as client:
        before = ask(client, "Show me the uptime of grafana")
        refused = CliRunner().invoke(cli, ["tools", "register", "--tool", str(broken)])
        registered = CliRunner().invoke(cli, ["tools", "register", "--tool", str(module)])
        reloaded = client.post("/admin/tools/reload")
        after = ask(client, "Show me the uptime of grafana")
    assert before["route"] != "tool"
    assert refused.exit_code == 1 and "spec parameters ['a'] != function ['b']" in refused.output
    assert registered.exit_code == 0, registered.output
    assert reloaded.status_code == 200 and "service_uptime" in reloaded.json()["tools"]
    assert after["route"] == "tool" and after["answer"] == "grafana has been up for 42 days."


def test_a_tool_calling_model_chooses_the_tool_and_words_the_answer(service):
    """The OpenAI code path against a real HTTP peer: the model picks deploy_model and its
    arguments, the tool runs against the registry, and the model turns the result into the answer."""
    from tests.openai_peer import Peer, PeerServer

    peer = Peer(answer="Done: churn-classifier 1.4.0 is live in staging.")
    peer.tool_call = {"name": "deploy_model", "arguments": {"model_name": "churn-classifier",
                                                            "environment": "staging"}}
    with PeerServer(peer) as peer, service(llm_provider="openai", llm_model="peer-model",
                                          openai_base_url=f"{peer.url}/v1", openai_api_key="sk-test") as client:
        body = ask(client, "Could you put the newest churn model on the staging cluster?")
        rows = deployments(client)
    assert set(peer.offered_tools[0]) == {"calculate", "query_knowledge_graph", "deploy_model", "query_analytics"}
    assert body["route"] == "tool" and body["tool"]["ok"] and body["provider"] == "openai"
    assert body["answer"] == "Done: churn-classifier 1.4.0 is live in staging."
    assert (rows[0]["model"], rows[0]["environment"], rows[0]["status"]) == ("churn-classifier", "staging", "deployed")


RUNBOOK_TOOL = '''from typing import Dict, Any

def deploy_model(model_name: str, environment: str) -> Dict[str, Any]:
    """Deploy a model to specified environment"""
    return {"status": "success", "endpoint": "https://..."}

TOOL_SPEC = {
    "name": "deploy_model",
    "description": "Deploy a trained model to production environment",
    "parameters": {
        "model_name": {"type": "string", "required": True},
        "environment": {"type": "string", "enum": ["staging", "production"]}
    }
}
'''


def test_the_runbooks_tool_module_registers_replacing_the_tool_of_its_name(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    (tmp_path / "deploy_tool.py").write_text(RUNBOOK_TOOL)
    monkeypatch.setattr("tools.loading.PROJECT_DIR", tmp_path)  # tool files are taken from the project only
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    registered = CliRunner().invoke(cli, ["tools", "register", "--tool", str(tmp_path / "deploy_tool.py")])
    assert registered.exit_code == 0, registered.output
    assert "registered deploy_model(model_name, environment)" in registered.output
    assert "replacing tools.deploy" in registered.output
    listed = CliRunner().invoke(cli, ["tools", "list"]).output
    assert "[chatbot_tool_deploy_tool_" in listed and "[tools.deploy]" not in listed
    tested = CliRunner().invoke(cli, ["tools", "test", "--tool-name", "deploy_model", "--params",
                                      '{"model_name": "churn-classifier", "environment": "staging"}'])
    assert tested.exit_code == 0 and '"endpoint": "https://..."' in tested.output
    bad = CliRunner().invoke(cli, ["tools", "test", "--tool-name", "deploy_model", "--params",
                                   '{"model_name": "churn-classifier", "environment": "moon"}'])
    assert bad.exit_code == 1 and "Input should be 'staging' or 'production'" in bad.output
    unknown = CliRunner().invoke(cli, ["tools", "test", "--tool-name", "drop_tables", "--params", "{}"])
    assert unknown.exit_code == 1 and "unknown tool 'drop_tables'" in unknown.output
    not_json = CliRunner().invoke(cli, ["tools", "test", "--tool-name", "deploy_model", "--params", "{oops"])
    assert not_json.exit_code == 2 and "must be a JSON object" in not_json.output
