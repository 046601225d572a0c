"""`/health` and `/health/ready` are open: anyone gets the statuses, only the admin scope the details,
and the probes behind them run at most once per HEALTH_CACHE_SECONDS however many call."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient

import app.gateway.routes.health as health_api
from app.gateway.factory import create_app
from app.settings import load_settings
from tests.integration.conftest import create_keys, running_app

# words of the full report only ("model" is also a component's name)
DETAILS = ("provider", "extractive", "fallbacks", "chunks", "documents", "backend", "sqlite", "latency_ms",
           "error", "model_gate", "fallback_search")


@pytest.fixture
def keys(data_dir_copy):
    made = create_keys(data_dir_copy, {"alice": ["chat"], "ops": ["admin"]})
    return {"chat": made["alice"], "admin": made["ops"]}


@pytest.fixture
def client(data_dir_copy, keys):
    with running_app(data_dir_copy, llm_provider="extractive") as client:
        yield client


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def assert_statuses_only(response, status: str = "ok", code: int = 200) -> None:
    body = response.json()
    assert response.status_code == code
    assert set(body) <= {"status", "components", "ready"} and body["status"] == status
    assert set(body["components"]) >= {"model", "vector_store", "checkpointer", "database"}
    assert all(set(component) == {"status"} for component in body["components"].values()), body
    assert not any(word in response.text for word in DETAILS), response.text


def test_anonymous_and_non_admin_callers_get_statuses_only(client, keys):
    for headers in ({}, bearer("cb_00000000_not-a-key"), bearer(keys["chat"])):
        assert_statuses_only(client.get("/health", headers=headers))
        ready = client.get("/health/ready", headers=headers)
        assert_statuses_only(ready)
        assert ready.json()["ready"] is True


def test_a_remote_caller_in_local_only_mode_gets_statuses_only(data_dir_copy):
    settings = load_settings(data_dir=data_dir_copy, llm_provider="extractive")
    with TestClient(create_app(settings), client=("203.0.113.7", 40000)) as remote:
        assert_statuses_only(remote.get("/health"))
        assert_statuses_only(remote.get("/health/ready"))


def test_a_down_component_is_still_503_for_anonymous_callers(client):
    client.app.state.chatbot.services.store.close()
    response = client.get("/health")
    assert_statuses_only(response, status="down", code=503)
    assert response.json()["components"]["vector_store"] == {"status": "down"}
    assert client.get("/health/ready").json() == {**response.json(), "ready": False}


def test_an_admin_key_gets_the_full_report(client, keys):
    """Needs the middleware to set `request.state.principal` on the open paths."""
    body = client.get("/health", headers=bearer(keys["admin"])).json()
    assert body["components"]["model"]["provider"] == "extractive" and "fallbacks" in body["components"]["model"]
    assert body["components"]["vector_store"]["chunks"] > 100
    ready = client.get("/health/ready", headers=bearer(keys["admin"])).json()
    assert ready["ready"] is True and "model_gate" in ready and "latency_ms" in ready["components"]["database"]


def test_the_probes_run_once_for_quick_and_concurrent_calls(client, monkeypatch):
    services = client.app.state.chatbot.services
    stats, calls, lock = services.store.stats, [], threading.Lock()

    def counted():
        with lock:
            calls.append(time.monotonic())
        time.sleep(0.3)  # long enough for the concurrent callers below to overlap
        return stats()

    monkeypatch.setattr(services.store, "stats", counted)
    monkeypatch.setattr(health_api, "HEALTH_CACHE_SECONDS", 1.0, raising=False)  # without a cache: fail on the count
    for path in ("/health", "/health", "/health/ready", "/health"):
        assert client.get(path).status_code == 200
    assert len(calls) == 1
    time.sleep(1.1)  # the report is now stale: the next callers share one new computation
    with ThreadPoolExecutor(20) as pool:
        codes = list(pool.map(lambda n: client.get("/health/ready" if n % 2 else "/health").status_code, range(40)))
    assert codes == [200] * 40 and len(calls) == 2


def test_the_cli_shows_details_with_an_admin_key_and_statuses_without(data_dir_copy, keys, monkeypatch):
    """`chatbot health` and `chatbot smoke-test` against a real service in keys mode. The admin half
    needs the middleware to set `request.state.principal` on the open paths."""
    from typer.testing import CliRunner

    from app.cli import cli
    from bench.common import running_service

    # Its own log: `chatbot health` judges the error rate of the log's last 24 h.
    env = {"DATA_DIR": str(data_dir_copy), "LLM_PROVIDER": "extractive", "LOG_FILE": str(data_dir_copy / "chatbot.log")}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("CHATBOT_API_KEY", raising=False)
    with running_service("app.main:app", env) as base:
        anonymous = CliRunner().invoke(cli, ["health", "--url", base])
        admin = CliRunner().invoke(cli, ["health", "--url", base, "--api-key", keys["admin"]])
        smoke = CliRunner().invoke(cli, ["smoke-test", "--url", base, "--api-key", keys["admin"]])
    assert "Service: ok" in anonymous.output and "  vector_store: ok\n" in anonymous.output
    assert "details need an admin key" in anonymous.output and "chunks=" not in anonymous.output
    assert anonymous.exit_code == 1 and "/metrics answered 401" in anonymous.output
    assert admin.exit_code == 0, admin.output
    assert "provider=extractive" in admin.output and "chunks=" in admin.output and "model_gate:" in admin.output
    assert "details need" not in admin.output
    assert "PASS health: ok, model extractive/" in smoke.output, smoke.output
