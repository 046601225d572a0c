"""Metrics after a scripted set of requests, JSON request logs with ids, and no secret in any log line."""

import json
import logging

from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from app.gateway.request_log import ObserveRequests
from app.observability.logs import configure_logging
from tests.integration.conftest import running_app, sse_events


def samples(client) -> dict[tuple, float]:
    """Every sample of /metrics as {(name, sorted labels): value}."""
    found = {}
    for family in text_string_to_metric_families(client.get("/metrics").text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def delta(before, after, name, **labels) -> float:
    key = (name, tuple(sorted(labels.items())))
    return after.get(key, 0.0) - before.get(key, 0.0)


def test_counters_and_histograms_hold_the_scripted_requests(data_dir_copy, tmp_path):
    with running_app(data_dir_copy, llm_provider="extractive", log_file=tmp_path / "chatbot.log") as client:
        before = samples(client)
        for question in ("What is the RPO for conversations?", "How do I roll back a Kubernetes deployment?",
                         "What is 17 * 23?"):
            assert client.post("/chat", json={"message": question}).status_code == 200
        assert client.post("/chat", json={"message": ""}).status_code == 422
        with client.stream("POST", "/chat/stream", json={"message": "How big can a Lambda image be?"}) as response:
            assert sse_events(response)[-1][0] == "final"
        after = samples(client)

    chat = {"route": "/chat", "method": "POST"}
    assert delta(before, after, "chatbot_http_requests_total", **chat, status="200") == 3
    assert delta(before, after, "chatbot_http_requests_total", **chat, status="422") == 1
    assert delta(before, after, "chatbot_http_requests_total", route="/chat/stream", method="POST", status="200") == 1
    assert delta(before, after, "chatbot_http_request_duration_seconds_count", **chat) == 4
    assert delta(before, after, "chatbot_time_to_first_token_seconds_count") == 4  # every answered turn
    assert delta(before, after, "chatbot_vector_search_duration_seconds_count") == 3  # knowledge turns only
    assert delta(before, after, "chatbot_llm_duration_seconds_count", provider="extractive") == 3
    assert delta(before, after, "chatbot_llm_tokens_total", provider="extractive", kind="prompt") > 0
    assert delta(before, after, "chatbot_tool_calls_total", tool="calculate", outcome="success") == 1
    assert ("chatbot_llm_queue_depth", ()) in after


def test_every_request_is_one_json_line_with_its_id(data_dir_copy, tmp_path):
    log_file = tmp_path / "chatbot.log"
    with running_app(data_dir_copy, llm_provider="extractive", log_file=log_file) as client:
        mine = client.post("/chat", json={"message": "Hello"}, headers={"X-Request-ID": "req-abc-123"})
        theirs = client.get("/conversations")
        # Local-only mode: a proxied request is refused (its Bearer value is no key yet).
        refused = client.get("/conversations", headers={"Authorization": "Bearer sk-live-0123456789abcdef",
                                                        "X-Forwarded-For": "203.0.113.9"})
    assert mine.headers["x-request-id"] == "req-abc-123" and len(theirs.headers["x-request-id"]) == 32
    assert refused.status_code == 403
    lines = [json.loads(line) for line in log_file.read_text().splitlines()]
    requests = [line for line in lines if line["logger"] == "chatbot.request"]
    assert [(r["method"], r["route"], r["status"]) for r in requests] == [
        ("POST", "/chat", 200), ("GET", "/conversations", 200), ("GET", "unmatched", 403)]
    assert requests[0]["request_id"] == "req-abc-123" and requests[0]["duration_ms"] > 0
    assert all(line["level"] in ("INFO", "WARNING", "ERROR", "DEBUG") and line["time"] for line in lines)
    assert "sk-live" not in log_file.read_text()


def test_failures_are_error_lines_and_secrets_are_masked(tmp_path):
    log_file = tmp_path / "chatbot.log"
    configure_logging(log_file)

    async def broken(request):
        raise RuntimeError("boom")

    app = ObserveRequests(Starlette(routes=[Route("/broken", broken), Route("/ok", lambda r: PlainTextResponse("ok"))]))
    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get("/broken").status_code == 500
        assert client.get("/ok").status_code == 200
    logging.getLogger("chatbot.test").warning("calling with api_key=sk-abcdefgh12345678 and Bearer abc.def")
    text = log_file.read_text()
    records = [json.loads(line) for line in text.splitlines()]
    statuses = {(r.get("path"), r["level"]) for r in records if r["logger"] == "chatbot.request"}
    assert ("/broken", "ERROR") in statuses and ("/ok", "INFO") in statuses
    assert "sk-abcdefgh" not in text and "abc.def" not in text and "[REDACTED]" in text


def test_readiness_checks_every_dependency_and_a_dead_redis_only_degrades(data_dir_copy):
    with running_app(data_dir_copy, llm_provider="extractive", redis_url="redis://127.0.0.1:6379/0") as client:
        up = client.get("/health/ready").json()
    assert up["status"] == "ok" and set(up["components"]) == {"model", "vector_store", "checkpointer", "database",
                                                                "redis"}
    with running_app(data_dir_copy, llm_provider="extractive", redis_url="redis://127.0.0.1:1/0") as client:
        response = client.get("/health/ready")
        answered = client.post("/chat", json={"message": "What is the RPO for conversations?"})
    assert response.status_code == 200 and response.json()["status"] == "degraded"
    assert response.json()["components"]["redis"]["status"] == "down"
    assert answered.status_code == 200  # limits let requests through, the cache misses


def test_every_field_of_a_log_line_is_masked_extra_fields_and_tracebacks_too(tmp_path):
    log_file = tmp_path / "chatbot.log"
    configure_logging(log_file)
    log = logging.getLogger("chatbot.test")
    secrets = {
        "postgresql": ("postgresql://chatbot:pg-s3cret@db:5432/chatbot", "postgresql://chatbot:[REDACTED]@db"),
        "redis": ("redis://:redis-s3cret@cache:6379/0", "redis://:[REDACTED]@cache"),
        "json": ('{"password": "json-s3cret"}', '"password": "[REDACTED]"'),
        "dict": ("{'api_key': 'dict-s3cret'}", "'api_key': '[REDACTED]'"),
        "pinecone": ("pcsk_4Abc12_DEFghiJKLmnoPQRstuVWX", "[REDACTED]"),
        "google": ("AIzaSyA1234567890abcdefghijklmnopqrs", "[REDACTED]"),
    }
    for name, (secret, _) in secrets.items():
        log.warning("%s: %s", name, secret)
    log.info("connected", extra={"dsn": "postgresql://u:extra-s3cret@db/x", "api_key": "extra-field-s3cret",
                                 "headers": {"authorization": "Bearer extra.bearer.s3cret"}, "attempt": 2})
    try:
        raise ConnectionError("cannot reach redis://:trace-s3cret@cache:6379")
    except ConnectionError:
        log.exception("cache down")
    text = log_file.read_text()
    assert "s3cret" not in text and "pcsk_4Abc" not in text and "AIzaSy" not in text
    records = [json.loads(line) for line in text.splitlines()]
    for name, (_, shown) in secrets.items():  # the context stays, so a line still says what it was about
        assert any(r["message"].startswith(f"{name}: ") and shown in r["message"] for r in records), name
    connected = next(r for r in records if r["message"] == "connected")
    assert connected["dsn"] == "postgresql://u:[REDACTED]@db/x" and connected["api_key"] == "[REDACTED]"
    assert connected["headers"] == {"authorization": "[REDACTED]"} and connected["attempt"] == 2
    failed = next(r for r in records if r["message"] == "cache down")
    assert "ConnectionError" in failed["exc_info"] and "redis://:[REDACTED]@cache" in failed["exc_info"]
