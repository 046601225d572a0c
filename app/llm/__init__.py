"""Chat model factory: LLM_PROVIDER -> a primary model, always backed by `extractive`."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from langchain_core.embeddings import Embeddings
from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import Runnable

from app.llm.extractive import ExtractiveChatModel
from app.settings import ConfigurationError, Settings


@dataclass(frozen=True)
class ChatModels:
    provider: str
    primary: BaseChatModel
    chain: Runnable  # primary.with_fallbacks([... extractive])
    supports_tools: bool
    count_tokens: Callable[[str], int]
    max_passages: int | None = None  # None: as many as fit the context budget


def _local(settings: Settings) -> BaseChatModel:
    from app.llm.local import LocalLlamaChatModel, packaged_gemma_path

    path = settings.llm_model_path or packaged_gemma_path()
    if not path.is_file():
        raise ConfigurationError(f"LLM_MODEL_PATH={path} is not a file")
    return LocalLlamaChatModel(
        model_path=path,
        model_name=settings.llm_model,
        n_ctx=settings.max_context_length + settings.llm_max_tokens,
        n_threads=settings.llm_threads,
        max_tokens=settings.llm_max_tokens,
        temperature=settings.llm_temperature,
    )


def _openai(settings: Settings) -> BaseChatModel:
    from langchain_openai import ChatOpenAI

    if settings.openai_api_key is None and settings.openai_base_url is None:
        raise ConfigurationError("LLM_PROVIDER=openai needs OPENAI_API_KEY (or OPENAI_BASE_URL)")
    return ChatOpenAI(
        model=settings.llm_model,
        api_key=settings.openai_api_key or "not-needed",
        base_url=settings.openai_base_url,
        max_tokens=settings.llm_max_tokens,
        temperature=settings.llm_temperature,
        max_retries=settings.llm_max_retries,
    )


def _azure(settings: Settings) -> BaseChatModel:
    from langchain_openai import AzureChatOpenAI

    missing = [
        name
        for name, value in (
            ("AZURE_OPENAI_ENDPOINT", settings.azure_openai_endpoint),
            ("AZURE_OPENAI_API_KEY", settings.azure_openai_api_key),
            ("AZURE_OPENAI_DEPLOYMENT", settings.azure_openai_deployment),
        )
        if not value
    ]
    if missing:
        raise ConfigurationError(f"LLM_PROVIDER=azure needs {', '.join(missing)}")
    return AzureChatOpenAI(
        azure_endpoint=settings.azure_openai_endpoint,
        api_key=settings.azure_openai_api_key,
        azure_deployment=settings.azure_openai_deployment,
        api_version=settings.azure_openai_api_version,
        max_tokens=settings.llm_max_tokens,
        temperature=settings.llm_temperature,
        max_retries=settings.llm_max_retries,
    )


def build_chat_models(settings: Settings, embeddings: Embeddings | None = None) -> ChatModels:
    """Build the configured provider; fails here, at start-up, on a bad configuration."""
    extractive = ExtractiveChatModel(embeddings=embeddings)
    match settings.llm_provider:
        case "local":
            primary = _local(settings)
        case "openai":
            primary = _openai(settings)
        case "azure":
            primary = _azure(settings)
        case "extractive":
            return ChatModels("extractive", extractive, extractive, False, extractive.get_num_tokens)
        case other:  # Settings validates the name; this guards a new literal left unhandled
            raise ConfigurationError(f"unknown LLM_PROVIDER {other!r}")
    local = settings.llm_provider == "local"
    supports_tools = not local
    count = primary.get_num_tokens if local else (lambda t: len(t) // 4 + 1)
    # The 270M local model reads ~400 prompt tokens/s on 2 cores and is distracted by
    # extra passages: with 2 instead of 4 its first token came twice as fast and its
    # answers and citations were better (bench/answers.py, sample set).
    passages = settings.max_passages or (2 if local else None)
    return ChatModels(
        settings.llm_provider, primary, primary.with_fallbacks([extractive]), supports_tools, count, passages
    )


async def ping_model(models: ChatModels) -> None:
    """Raise if the model cannot run: the local model must load and tokenize.

    Remote providers are not called here (a health probe must not spend tokens).
    """
    if models.provider == "local":
        await asyncio.to_thread(models.primary.get_num_tokens, "ping")
