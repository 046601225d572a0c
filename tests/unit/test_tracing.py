"""LangSmith tracing is on exactly when LANGSMITH_API_KEY is set, whatever LANGSMITH_TRACING says,
and nothing is written to the process environment."""

import os

import langsmith
from langsmith.utils import tracing_is_enabled

from app.observability.tracing import configure_tracing
from app.settings import Settings


def test_tracing_follows_the_key_and_leaves_the_environment_alone(monkeypatch, tmp_path):
    monkeypatch.setenv("LANGSMITH_TRACING", "true")
    monkeypatch.setenv("LANGCHAIN_TRACING_V2", "true")
    before = dict(os.environ)
    try:
        assert configure_tracing(Settings(data_dir=tmp_path)) is False
        assert tracing_is_enabled() is False  # the environment says true: the missing key wins
        assert configure_tracing(Settings(data_dir=tmp_path, langsmith_api_key="lsv2-test")) is True
        assert tracing_is_enabled() is True
        assert dict(os.environ) == before
    finally:
        langsmith.configure(enabled=False)  # the rest of the run traces nothing
