"""The chat model factory: LLM_PROVIDER, then LLM_FALLBACKS, then `extractive`, as one failover chain."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from langchain_core.embeddings import Embeddings
from langchain_core.language_models import BaseChatModel

from app.ledgers.usage import ModelCall
from app.llm.extractive import ExtractiveChatModel
from app.llm.failover import FailoverChatModel, RetryPolicy, chain_names
from app.llm.tokens import estimate_tokens
from app.settings import ConfigurationError, Settings

DEFAULT_MODELS = {"local": "gemma-3-270m", "openai": "gpt-4o-mini", "extractive": "extractive"}


@dataclass(frozen=True)
class ChatModels:
    provider: str
    primary: BaseChatModel
    chain: FailoverChatModel  # primary, LLM_FALLBACKS, extractive
    supports_tools: bool
    count_tokens: Callable[[str], int]
    max_passages: int | None = None  # None: as many as fit the context budget
    model_name: str = ""

    @property
    def chain_names(self) -> list[str]:
        return self.chain.provider_names


# The 270M local model reads ~400 prompt tokens/s on 2 cores and is distracted by extra
# passages: with 2 instead of 4 its first token came twice as fast and its answers and
# citations were better (bench/answers.py, sample set).
LOCAL_PASSAGES = 2


def max_passages(settings: Settings) -> int | None:
    """MAX_PASSAGES, or the local model's default; None: as many as fit the context budget."""
    return settings.max_passages or (LOCAL_PASSAGES if settings.llm_provider == "local" else None)


def passages_read(settings: Settings) -> int:
    """How many of the retrieved passages (by rank) the configured model reads at most."""
    return min(max_passages(settings) or settings.retrieval_top_k, settings.retrieval_top_k)


def _model_name(settings: Settings, provider: str) -> str:
    """LLM_MODEL names the primary's model; fallbacks run their provider's default."""
    if provider == settings.llm_provider and settings.llm_model:
        return settings.llm_model
    if provider == "azure":
        return settings.azure_openai_deployment or "azure"
    return DEFAULT_MODELS[provider]


def _local(settings: Settings) -> BaseChatModel:
    from app.llm.local import LocalLlamaChatModel, packaged_gemma_path

    path = settings.llm_model_path or packaged_gemma_path()
    if not path.is_file():
        raise ConfigurationError(f"LLM_MODEL_PATH={path} is not a file")
    return LocalLlamaChatModel(
        model_path=path,
        model_name=_model_name(settings, "local"),
        n_ctx=settings.max_context_length + settings.llm_max_tokens,
        n_threads=settings.llm_threads,
        max_tokens=settings.llm_max_tokens,
        temperature=settings.llm_temperature,
    )


def _openai_sampling(settings: Settings) -> dict:
    """What OpenAI and Azure OpenAI share: the answer's budget and temperature, no retries of their
    own (the failover model's, with LLM_RETRY_DELAY and none on a 4xx), the timeout, and usage on the stream."""
    return {
        "max_tokens": settings.llm_max_tokens,
        "temperature": settings.llm_temperature,
        "max_retries": 0,
        "timeout": settings.llm_timeout,
        "stream_usage": True,
    }


def _openai(settings: Settings) -> BaseChatModel:
    from langchain_openai import ChatOpenAI

    if settings.openai_api_key is None and settings.openai_base_url is None:
        raise ConfigurationError("LLM_PROVIDER=openai needs OPENAI_API_KEY (or OPENAI_BASE_URL)")
    return ChatOpenAI(
        model=_model_name(settings, "openai"),
        api_key=settings.openai_api_key or "not-needed",
        base_url=settings.openai_base_url,
        **_openai_sampling(settings),
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
        **_openai_sampling(settings),
    )


_BUILDERS = {"local": _local, "openai": _openai, "azure": _azure}


def build_chat_models(
    settings: Settings,
    embeddings: Embeddings | None = None,
    on_call: Callable[[ModelCall], Awaitable[None]] | None = None,
) -> ChatModels:
    """Build the provider chain; fails here, at start-up, on a bad configuration.

    `on_call` receives every model call attempt (the usage ledger's `arecord`).
    """
    extractive = ExtractiveChatModel(embeddings=embeddings)
    names = chain_names(settings.llm_provider, settings.fallback_providers)
    providers = [(name, extractive if name == "extractive" else _BUILDERS[name](settings)) for name in names]
    primary = providers[0][1]
    local = settings.llm_provider == "local"
    if settings.llm_provider == "extractive":
        count = extractive.get_num_tokens
    else:  # remote tokenizers (tiktoken) fetch their tables from the internet: estimate
        count = primary.get_num_tokens if local else estimate_tokens
    chain = FailoverChatModel(
        providers=providers,
        policy=RetryPolicy(max_retries=settings.llm_max_retries, base_delay=settings.llm_retry_delay),
        count_tokens=count,
        model_names={name: _model_name(settings, name) for name in names},
        on_call=on_call,
    )
    return ChatModels(
        provider=settings.llm_provider,
        primary=primary,
        chain=chain,
        supports_tools=settings.llm_provider in ("openai", "azure"),
        count_tokens=count,
        max_passages=max_passages(settings),
        model_name=_model_name(settings, settings.llm_provider),
    )


async def ping_model(models: ChatModels) -> None:
    """Raise if the model cannot run: the local model must load and tokenize.

    Remote providers are not called here (a health probe must not spend tokens).
    """
    if models.provider == "local":
        await asyncio.to_thread(models.primary.get_num_tokens, "ping")
