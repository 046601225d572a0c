"""`chatbot profile`, `chatbot health` and `chatbot check-latency` against the real service."""

import re
import time

import httpx
from typer.testing import CliRunner

from app.access.keys import KEYS_CONFIGURED_TTL, KeyStore
from app.cli import cli
from app.settings import load_settings
from bench.common import running_service


def test_profile_breaks_a_turn_down_by_part(data_dir_copy, monkeypatch):
    monkeypatch.setenv("DATA_DIR", str(data_dir_copy))
    monkeypatch.setenv("LLM_PROVIDER", "extractive")
    result = CliRunner().invoke(cli, ["profile", "--query", "How do I roll back a Kubernetes deployment?"])
    assert result.exit_code == 0, result.output
    seconds = {name: float(value) for name, value in re.findall(r"^\s+([A-Za-z ]+): ([\d.]+)s$", result.output, re.M)}
    total = float(re.search(r"Total time: ([\d.]+)s \(route: knowledge", result.output).group(1))
    assert set(seconds) == {"Vector search", "LLM generation", "Tool execution", "Other"}
    assert seconds["Vector search"] > 0 and seconds["LLM generation"] > 0 and seconds["Tool execution"] == 0
    assert abs(sum(seconds.values()) - total) <= 0.005


def test_health_passes_on_a_healthy_service_and_fails_without_access_to_its_metrics(data_dir_copy, monkeypatch):
    log_file = data_dir_copy / "chatbot.log"
    env = {"DATA_DIR": str(data_dir_copy), "LLM_PROVIDER": "extractive", "LOG_FILE": str(log_file)}
    monkeypatch.setenv("DATA_DIR", str(data_dir_copy))
    monkeypatch.setenv("LOG_FILE", str(log_file))
    with running_service("app.main:app", env) as base:
        for question in ("What is the RPO for conversations?", "Hello"):
            assert httpx.post(f"{base}/chat", json={"message": question}, timeout=30).status_code == 200
        healthy = CliRunner().invoke(cli, ["health", "--url", base])
        latency = CliRunner().invoke(cli, ["check-latency", "--url", base, "--threshold", "60000"])
        strict = CliRunner().invoke(cli, ["check-latency", "--url", base, "--threshold", "0.001"])
        store = KeyStore(load_settings(data_dir=data_dir_copy).ledger_url)
        admin = store.create("ops", ["admin"])
        store.close()
        time.sleep(KEYS_CONFIGURED_TTL + 0.1)  # a replica re-counts the active keys this often
        locked = CliRunner().invoke(cli, ["health", "--url", base])
        unlocked = CliRunner().invoke(cli, ["health", "--url", base, "--api-key", admin])
    assert healthy.exit_code == 0, healthy.output
    assert "Service: ok" in healthy.output and "2 turns" in healthy.output and healthy.output.rstrip().endswith("OK")
    assert re.search(r"Log \(24 h\): [1-9]\d* requests, 0 failed", healthy.output)
    assert latency.exit_code == 0 and strict.exit_code == 1
    assert locked.exit_code == 1 and "/metrics answered 401" in locked.output
    assert unlocked.exit_code == 0, unlocked.output
