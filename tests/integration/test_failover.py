"""Provider failover and retries through the whole service, against real HTTP servers.

The primary is `openai` pointed at one OpenAI-compatible peer, the fallback `azure`
pointed at another (Azure's URL layout), and `extractive` comes last. The peers fail on
command: 429, 500, 400, a timeout, a connection dropped mid-stream.
"""

from __future__ import annotations

import pytest

from tests.integration.conftest import running_app, sse_events
from tests.openai_peer import Peer, PeerServer

RETRY_DELAY = 0.2
QUESTION = {"message": "How often do backups run?"}


@pytest.fixture
def peers():
    with PeerServer(Peer(answer="Backups run every hour [1].")) as primary, \
         PeerServer(Peer(answer="Azure says: hourly backups [1].")) as azure:
        yield primary, azure


@pytest.fixture
def service(peers, data_dir_copy):
    primary, azure = peers
    settings = dict(
        llm_provider="openai", llm_model="peer-model", openai_base_url=f"{primary.url}/v1", openai_api_key="sk-test",
        llm_fallbacks="azure", azure_openai_endpoint=azure.url, azure_openai_api_key="azure-key",
        azure_openai_deployment="gpt-test", llm_max_retries=2, llm_retry_delay=RETRY_DELAY, llm_timeout=1.0,
    )

    def start(**overrides):
        return running_app(data_dir_copy, **{**settings, **overrides})

    return start


def gaps(times: list[float]) -> list[float]:
    return [b - a for a, b in zip(times, times[1:])]


def test_the_primary_answers_and_its_usage_is_reported(peers, service):
    primary, azure = peers
    with service() as client:
        body = client.post("/chat", json=QUESTION).json()
    assert body["provider"] == "openai" and body["degraded"] is False
    assert body["answer"].startswith("Backups run every hour")
    assert body["usage"]["output_tokens"] == 5 and body["usage"]["input_tokens"] > 0
    assert primary.behaviours() == ["ok"] and azure.requests == []


def test_rate_limits_are_retried_with_exponential_backoff(peers, service):
    primary, azure = peers
    primary.plan = ["429", "429"]
    with service() as client:
        body = client.post("/chat", json=QUESTION).json()
        metrics = client.get("/metrics").text
    assert body["provider"] == "openai" and body["degraded"] is False
    assert primary.behaviours() == ["429", "429", "ok"] and azure.requests == []
    first, second = gaps(primary.request_times())
    # Equal jitter: retry n waits between half and all of RETRY_DELAY * 2**n.
    assert RETRY_DELAY * 0.5 <= first < RETRY_DELAY + 0.5
    assert RETRY_DELAY * 1.0 <= second < RETRY_DELAY * 2 + 0.5
    assert 'chatbot_llm_requests_total{outcome="retried",provider="openai"} 2.0' in metrics


def test_a_servers_retry_after_is_honoured(peers, service):
    primary, _ = peers
    primary.plan = ["429-retry-after"]
    with service() as client:
        assert client.post("/chat", json=QUESTION).json()["provider"] == "openai"
    assert gaps(primary.request_times())[0] >= 1.0


def test_a_request_error_is_not_retried_and_the_fallback_answers(peers, service):
    primary, azure = peers
    primary.default = "400"
    with service() as client:
        body = client.post("/chat", json=QUESTION).json()
    assert primary.behaviours() == ["400"]  # never retried
    assert body["provider"] == "azure" and body["degraded"] is True
    assert body["answer"].startswith("Azure says")
    assert azure.requests[0][1] == "/openai/deployments/gpt-test/chat/completions"


@pytest.mark.parametrize("failure", ["500", "timeout"])
def test_transient_failures_are_retried_then_fail_over(peers, service, failure):
    primary, azure = peers
    primary.default = failure
    with service() as client:
        body = client.post("/chat", json=QUESTION).json()
    assert primary.behaviours() == [failure] * 3  # the first try and LLM_MAX_RETRIES=2 retries
    assert body["provider"] == "azure" and body["degraded"] is True


def test_when_every_remote_provider_fails_the_extractive_one_answers(peers, service):
    primary, azure = peers
    primary.default = azure.default = "500"
    with service(llm_max_retries=0) as client:
        body = client.post("/chat", json=QUESTION).json()
    assert body["provider"] == "extractive" and body["degraded"] is True
    assert body["sources"] and "[1]" in body["answer"]
    assert (primary.behaviours(), azure.behaviours()) == (["500"], ["500"])


def test_a_stream_that_breaks_mid_answer_is_restarted_not_spliced(peers, service):
    primary, azure = peers
    primary.plan = ["drop"]
    # Part of it streams before the break (the stream holds back a word until it is complete).
    primary.answer = ("Backups run every hour, and each one is copied to a second region within fifteen "
                      "minutes of being taken, then kept for thirty days [1].")
    primary.drop_after = 16
    with service() as client:
        with client.stream("POST", "/chat/stream", json={**QUESTION, "conversation_id": "c" * 32}) as response:
            events = sse_events(response)
        names = [name for name, _ in events]
        restart = names.index("restart")
        before = "".join(data["text"] for name, data in events[:restart] if name == "token")
        after = "".join(data["text"] for name, data in events[restart:] if name == "token")
        final = events[-1][1]
        graph = client.app.state.chatbot.graph
        history = client.portal.call(graph.aget_state, {"configurable": {"thread_id": "c" * 32}})
    streamed_before_the_break = "".join(w + " " for w in primary.answer.split(" ")[:16])
    # What the client had shown, and must now discard: the first words, never the held tail.
    assert before.startswith("Backups run every hour,") and streamed_before_the_break.startswith(before)
    assert len(before) < len(streamed_before_the_break)
    assert events[restart][1] == {"provider": "openai", "reason": "provider_failed"}
    assert after.startswith("Azure says")
    assert final["provider"] == "azure" and final["answer"].startswith("Azure says")
    assert primary.behaviours() == ["drop"]  # a broken stream is not retried on the same provider
    messages = history.values["messages"]
    assert [m.type for m in messages] == ["human", "ai"]  # the turn is stored once
    assert messages[-1].content == final["answer"]


def test_llm_test_command_reports_reply_usage_and_failures_without_secrets(peers, monkeypatch, tmp_path):
    from typer.testing import CliRunner

    from app.cli import cli

    primary, _ = peers
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-test-key")
    command = ["llm", "test", "--provider", "openai", "--model", "peer-model",
               "--endpoint", f"{primary.url}/v1", "--prompt", "Hello, how are you?"]
    result = CliRunner().invoke(cli, command)
    assert result.exit_code == 0, result.output
    assert "Backups run every hour" in result.output and "/ 5 completion" in result.output
    primary.default = "400"
    result = CliRunner().invoke(cli, command)
    assert result.exit_code == 1
    assert "openai failed: " in result.output and "(HTTP 400)" in result.output
    assert "sk-secret" not in result.output


def test_a_router_that_cannot_reach_the_model_routes_by_embeddings(peers, service):
    primary, _ = peers
    primary.fail_routing = True
    with service() as client:
        body = client.post("/chat", json=QUESTION).json()
    assert primary.routing_requests == ["500"] and body["route"] == "knowledge"
    assert body["provider"] == "openai" and body["answer"].startswith("Backups run every hour")


def test_every_call_attempt_is_in_the_usage_ledger_and_the_report(peers, service, data_dir_copy, monkeypatch):
    from sqlalchemy import text
    from typer.testing import CliRunner

    from app.cli import cli

    primary, _ = peers
    primary.plan = ["429"]
    with service() as client:
        body = client.post("/chat", json={**QUESTION, "conversation_id": "ledger-1"}).json()
        rows = client.app.state.chatbot.services.ledger_db.execute(text(
            "SELECT provider, model, outcome, prompt_tokens, completion_tokens, conversation_id, estimated "
            "FROM llm_usage ORDER BY at"))
    # The router's call to the model is not recorded (it goes around the failover chain).
    assert [(r[0], r[1], r[2]) for r in rows] == [("openai", "peer-model", "retried"), ("openai", "peer-model", "answered")]
    answered = rows[-1]
    assert answered[3] == body["usage"]["input_tokens"] and answered[4] == 5 and answered[5] == "ledger-1"
    assert not answered[6]  # the peer reported its usage
    monkeypatch.setenv("DATA_DIR", str(data_dir_copy))
    result = CliRunner().invoke(cli, ["usage"])
    assert result.exit_code == 0, result.output
    assert f"Completion tokens: {5:,}" in result.output and "Model calls: 2 (1 retried" in result.output
    assert "openai / peer-model: 2 calls" in result.output


def test_the_response_cache_in_redis_is_shared_by_replicas(peers, service):
    import uuid

    primary, _ = peers
    # A question of its own: the Redis server outlives this test run.
    question = {"message": f"How often do backups run, run {uuid.uuid4().hex[:8]}?"}
    cache = dict(enable_response_cache=True, cache_ttl=60, redis_url="redis://127.0.0.1:6379/0")
    with service(**cache) as replica_a:
        first = replica_a.post("/chat", json=question).json()
        again = replica_a.post("/chat", json={"message": "  " + question["message"].upper() + "  "}).json()
    with service(**cache) as replica_b:
        other = replica_b.post("/chat", json=question).json()
    assert first["cached"] is False and again["cached"] is True and other["cached"] is True
    assert again["answer"] == other["answer"] == first["answer"] and other["provider"] == "openai"
    assert other["sources"] == first["sources"]  # citations are resolved again, the same way
    assert primary.behaviours() == ["ok"]  # one model call for three answers


def test_degraded_answers_are_not_cached(peers, service):
    primary, azure = peers
    primary.default = "400"
    with service(enable_response_cache=True) as client:  # in memory
        first = client.post("/chat", json=QUESTION).json()
        second = client.post("/chat", json=QUESTION).json()
    assert first["provider"] == second["provider"] == "azure"
    assert second["cached"] is False and primary.behaviours() == ["400", "400"]


def test_bench_llm_times_the_services_prompts_and_counts_failures(peers, monkeypatch, data_dir_copy):
    import json

    from typer.testing import CliRunner

    from app.cli import cli

    primary, _ = peers
    primary.plan = ["ok", "500", "ok"]
    monkeypatch.setenv("DATA_DIR", str(data_dir_copy))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-test-key")
    result = CliRunner().invoke(cli, ["bench", "llm", "--iterations", "3", "--provider", "openai", "--model",
                                      "peer-model", "--endpoint", f"{primary.url}/v1"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output.strip().splitlines()[-1])
    assert (report["provider"], report["model"], report["answered"], report["failed"]) == ("openai", "peer-model", 2, 1)
    assert primary.behaviours() == ["ok", "500", "ok"]  # no retries: one call per iteration
    assert 0 < report["first_token"]["p50_ms"] <= report["total"]["p50_ms"]
    assert report["mean_completion_tokens"] == 5 and report["mean_prompt_tokens"] > 100  # passages were in it
    assert "sk-secret" not in result.output
