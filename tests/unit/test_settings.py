import pytest

from app.settings import ConfigurationError, load_settings


def test_defaults_select_the_embedded_stack(monkeypatch):
    for name in ("LLM_PROVIDER", "VECTOR_STORE", "DATABASE_URL", "REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings()
    assert settings.llm_provider == "local"
    assert settings.vector_store == "embedded"
    assert settings.checkpoint_url.startswith("sqlite:///")
    assert settings.vector_store_index == "knowledge-base" and settings.index_dir.name == "index"


def test_runbook_variables_are_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("LLM_PROVIDER", "azure")
    monkeypatch.setenv("MAX_CONTEXT_LENGTH", "4000")
    monkeypatch.setenv("MAX_HISTORY_MESSAGES", "5")
    monkeypatch.setenv("ENABLE_RESPONSE_CACHE", "true")
    monkeypatch.setenv("CACHE_TTL", "3600")
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "secret-value")
    settings = load_settings()
    assert (settings.llm_provider, settings.max_context_length, settings.max_history_messages) == ("azure", 4000, 5)
    assert settings.enable_response_cache is True
    assert "secret-value" not in repr(settings)


def test_unknown_provider_fails_at_start_up_with_a_clear_message(monkeypatch):
    monkeypatch.setenv("LLM_PROVIDER", "gpt5-magic")
    with pytest.raises(ConfigurationError) as err:
        load_settings()
    message = str(err.value)
    assert "LLM_PROVIDER" in message and "'local'" in message and "'azure'" in message


def test_provider_without_its_keys_fails_when_built(monkeypatch):
    from app.llm import build_chat_models

    monkeypatch.delenv("AZURE_OPENAI_ENDPOINT", raising=False)
    with pytest.raises(ConfigurationError, match="AZURE_OPENAI_ENDPOINT"):
        build_chat_models(load_settings(llm_provider="azure"))


@pytest.mark.parametrize(("store", "missing"), [("pinecone", "PINECONE_API_KEY"), ("opensearch", "VECTOR_STORE_URL")])
def test_a_remote_vector_store_without_its_settings_fails_at_start_up(embeddings, monkeypatch, store, missing):
    from app.retrieval import build_vector_store

    for name in ("VECTOR_STORE_URL", "PINECONE_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigurationError, match=missing):
        build_vector_store(load_settings(vector_store=store), embeddings)
