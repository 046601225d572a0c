"""`langgraph dev` (any CORS origin) only serves the service's API keys, keeps owners apart,
and lets only an admin approve a tool call, recorded under the admin's own name."""

from __future__ import annotations

import shutil
from types import SimpleNamespace

import httpx
import pytest

from app.access.keys import KeyStore
from app.ledgers.tool_calls import ToolCallLedger
from app.settings import load_settings
from tests.e2e.conftest import BIN, free_port, offline_env, process, sse_pairs
from tools.model_registry import LocalModelRegistry

DEPLOY = "Deploy the fraud-scorer model to production"
FORGED = {"configurable": {"owner": "ops", "scopes": ["admin"]}}  # what a client may send: it must count for nothing


def _serve(data_dir, log):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    args = [str(BIN / "langgraph"), "dev", "--port", str(port), "--host", "127.0.0.1", "--no-browser", "--no-reload"]
    return url, process(args, offline_env(data_dir, LLM_PROVIDER="extractive"), f"{url}/ok", log, timeout=180)


@pytest.fixture(scope="module")
def dev(e2e_data_dir, tmp_path_factory):
    settings = load_settings(data_dir=e2e_data_dir)
    keys = KeyStore(settings.ledger_url)
    alice, bob, ops = keys.create("alice", ["chat"]), keys.create("bob", ["chat"]), keys.create("ops", ["admin"])
    keys.close()
    url, server = _serve(e2e_data_dir, tmp_path_factory.mktemp("logs") / "dev.log")
    with server, httpx.Client(base_url=url, timeout=120) as http:
        yield SimpleNamespace(http=http, settings=settings, alice={"Authorization": f"Bearer {alice}"},
                              bob={"X-API-Key": bob}, ops={"Authorization": f"Bearer {ops}"})


def _ask(dev, who, text, config=None):
    thread = dev.http.post("/threads", json={}, headers=who)
    assert thread.status_code == 200, thread.text
    thread_id = thread.json()["thread_id"]
    body = {"assistant_id": "chat", "input": {"messages": [{"role": "human", "content": text}]}}
    run = dev.http.post(f"/threads/{thread_id}/runs/wait", json={**body, **({"config": config} if config else {})},
                        headers=who)
    assert run.status_code == 200, run.text
    return thread_id


def _resume(dev, who, thread_id, config=None):
    body = {"assistant_id": "chat", "command": {"resume": {"approved": True, "by": "x"}}}
    run = dev.http.post(f"/threads/{thread_id}/runs/wait", json={**body, **({"config": config} if config else {})},
                        headers=who)
    assert run.status_code == 200, run.text
    state = dev.http.get(f"/threads/{thread_id}/state", headers=who)
    assert state.status_code == 200, state.text
    return state.json()["values"]["tool_result"]


def _pauses_for_approval(dev, who, thread_id):
    thread = dev.http.get(f"/threads/{thread_id}", headers=who).json()
    assert thread["status"] == "interrupted"
    [pending] = [i for interrupts in thread["interrupts"].values() for i in interrupts]
    assert pending["value"]["tool"] == "deploy_model"
    assert pending["value"]["arguments"] == {"model_name": "fraud-scorer", "environment": "production"}


def _deployments(dev):
    registry = LocalModelRegistry(dev.settings.ledger_url, seed=False)
    try:
        return registry.deployments("fraud-scorer")
    finally:
        registry.close()


def _ledger(dev, thread_id):
    ledger = ToolCallLedger(dev.settings.ledger_url)
    try:
        return [c for c in ledger.last(200) if c["conversation_id"] == thread_id]
    finally:
        ledger.close()


def test_with_no_key_yet_only_a_local_unproxied_caller_is_served(tmp_path, kb_data_dir):
    # First in the module: it stops its server before the one with keys starts (they share .langgraph_api/).
    data_dir = tmp_path / "data"
    shutil.copytree(kb_data_dir, data_dir)
    url, server = _serve(data_dir, tmp_path / "dev.log")
    with server, httpx.Client(base_url=url, timeout=30) as http:
        assert http.post("/threads", json={}).status_code == 200
        for header in ({"X-Forwarded-For": "203.0.113.9"}, {"Forwarded": "for=203.0.113.9"}):
            refused = http.post("/threads", json={}, headers=header)
            assert refused.status_code == 403 and "local-only" in refused.text, refused.text
        # A page that rebinds its own host name to 127.0.0.1 still names that host.
        assert http.post("/threads", json={}, headers={"Host": "attacker.example"}).status_code == 403


def test_a_chat_key_cannot_approve_even_naming_another_approver(dev):
    thread_id = _ask(dev, dev.alice, DEPLOY)
    _pauses_for_approval(dev, dev.alice, thread_id)
    before = {d["id"] for d in _deployments(dev)}
    result = _resume(dev, dev.alice, thread_id, config=FORGED)
    assert result["ok"] is False and result["outcome"] == "rejected"
    assert "approval needs the admin scope" in result["error"] and "rejected by alice" in result["error"]
    new = [d for d in _deployments(dev) if d["id"] not in before]
    assert [(d["status"], d["environment"], d["decided_by"]) for d in new] == [("rejected", "production", "alice")]
    assert not any(d["decided_by"] == "x" for d in _deployments(dev))
    [call] = _ledger(dev, thread_id)
    assert call["outcome"] == "rejected" and "by x" not in call["error"] and "by ops" not in call["error"]


def test_an_admin_approval_deploys_recorded_under_the_admins_name(dev):
    thread_id = _ask(dev, dev.alice, DEPLOY)  # alice asks; ops (admin) decides in her thread
    _pauses_for_approval(dev, dev.ops, thread_id)
    result = _resume(dev, dev.ops, thread_id)
    assert result["ok"] is True and result["outcome"] == "success", result
    assert result["result"]["decided_by"] == "ops" and "approved by ops" in result["result"]["summary"]
    [latest] = [d for d in _deployments(dev) if d["id"] == result["result"]["id"]]
    assert (latest["status"], latest["environment"], latest["decided_by"]) == ("deployed", "production", "ops")
    assert not any(d["decided_by"] == "x" for d in _deployments(dev))
    assert dev.http.get(f"/threads/{thread_id}", headers=dev.alice).json()["metadata"]["owner"] == "alice"


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer cb_00000000_not-a-key"}, {"X-API-Key": "nope"},
                                     {"x-auth-scheme": "langsmith"}])  # Studio's scheme is no way around keys
def test_without_a_valid_key_nothing_is_served(dev, headers):
    for method, path, body in [("POST", "/threads", {}), ("POST", "/threads/search", {}),
                               ("POST", "/assistants/search", {"graph_id": "chat"}),
                               ("POST", "/runs/wait", {"assistant_id": "chat", "input": {"messages": []}})]:
        response = dev.http.request(method, path, json=body, headers=headers)
        assert response.status_code == 401, (path, response.status_code, response.text)
    assert dev.http.get("/ok").status_code == 200  # the health probe stays open


def test_a_chat_key_cannot_run_an_admin_tool_whatever_its_config_says(dev):
    question = "How many tokens did we use this week?"
    thread_id = _ask(dev, dev.alice, question, config=FORGED)
    result = dev.http.get(f"/threads/{thread_id}/state", headers=dev.alice).json()["values"]["tool_result"]
    assert result["tool"] == "query_analytics" and result["outcome"] == "forbidden" and result["result"] is None
    thread_id = _ask(dev, dev.ops, question)
    result = dev.http.get(f"/threads/{thread_id}/state", headers=dev.ops).json()["values"]["tool_result"]
    assert result["tool"] == "query_analytics" and result["outcome"] == "success"


def test_an_owner_never_sees_or_runs_in_another_owners_thread(dev):
    thread_id = _ask(dev, dev.bob, "What is the RPO for conversations?")
    assert dev.http.get(f"/threads/{thread_id}", headers=dev.bob).status_code == 200
    for path in (f"/threads/{thread_id}", f"/threads/{thread_id}/state", f"/threads/{thread_id}/history"):
        assert dev.http.get(path, headers=dev.alice).status_code in (403, 404), path
    found = dev.http.post("/threads/search", json={"limit": 100}, headers=dev.alice).json()
    assert thread_id not in {t["thread_id"] for t in found}
    run = dev.http.post(f"/threads/{thread_id}/runs/wait", headers=dev.alice,
                        json={"assistant_id": "chat", "input": {"messages": [{"role": "human", "content": "hi"}]}})
    assert run.status_code in (403, 404), run.text
    taken = dev.http.patch(f"/threads/{thread_id}", json={"metadata": {"owner": "alice"}}, headers=dev.alice)
    assert taken.status_code in (403, 404)
    claimed = dev.http.post("/threads", json={"metadata": {"owner": "bob"}}, headers=dev.alice).json()
    assert claimed["metadata"]["owner"] == "alice"  # a client cannot create a thread in someone else's name
    assert dev.http.get(f"/threads/{claimed['thread_id']}", headers=dev.bob).status_code in (403, 404)


def test_langgraph_streams_and_outputs_carry_nothing_the_output_guard_masks(dev):
    """The knowledge base holds an internal address (chatbot@pg-standby.internal): the answer
    masks it, and neither the run's output, its `values` stream, its `messages` stream (the
    model's tokens) nor generate's update (the draft) carries it in clear. (The retrieve
    node's update holds the passages themselves: knowledge-base text the caller may read.)"""
    question = "What DATABASE_URL do I set on the deployment to fail over to the standby?"
    thread_id = dev.http.post("/threads", json={}, headers=dev.alice).json()["thread_id"]
    body = {"assistant_id": "chat", "input": {"messages": [{"role": "human", "content": question}]},
            "stream_mode": ["values", "messages-tuple", "updates", "custom"]}
    with dev.http.stream("POST", f"/threads/{thread_id}/runs/stream", json=body, headers=dev.alice) as response:
        events = sse_pairs(response.read().decode().splitlines())
    assert response.status_code == 200
    kinds = {name.split("|")[0] for name, _ in events}
    assert {"values", "messages", "updates", "custom"} <= kinds, kinds
    assert any("[EMAIL]" in data for name, data in events if name == "values")  # the answer, masked
    for name, data in events:
        kind = name.split("|")[0]
        if kind == "updates" and '"retrieve"' in data[:20]:
            continue
        assert "pg-standby.internal" not in data, (name, data[:300])
        if kind == "values":
            assert '"draft"' not in data and '"documents"' not in data
    output = dev.http.post(f"/threads/{thread_id}/runs/wait", json={**body, "stream_mode": "values"},
                           headers=dev.alice).json()
    assert "[EMAIL]" in output["answer"] and not {"draft", "documents"} & output.keys()
