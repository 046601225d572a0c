"""Every knob of the service, read once from the environment (and `.env`).

Variable names are the runbook's, unprefixed, so that `export LLM_PROVIDER=azure`
does what the runbook says. Defaults select the embedded stack: no keys, no network.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Literal, get_args

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

LLMProvider = Literal["local", "extractive", "openai", "azure"]
VectorStoreKind = Literal["embedded", "opensearch", "pinecone"]


class ConfigurationError(RuntimeError):
    """Settings that cannot start the service; the message says which and why."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    # Chat model
    llm_provider: LLMProvider = "local"
    llm_model: str | None = Field(
        default=None, description="the primary provider's model; default: gemma-3-270m (local), gpt-4o-mini (openai)"
    )
    llm_fallbacks: str = Field(
        default="", description="providers that answer, in order, when the primary fails, e.g. azure,local; "
        "extractive always comes last"
    )
    llm_prices: str = Field(
        default="", description='USD per 1,000 tokens, JSON {"model": [prompt, completion]}, added to the defaults'
    )
    llm_timeout: float = Field(default=30.0, gt=0, le=600, description="seconds per remote model request")
    llm_model_path: Path | None = Field(
        default=None, description="GGUF file for LLM_PROVIDER=local; default: packaged Gemma 3"
    )
    llm_max_tokens: int = Field(default=160, ge=1, le=4096)
    llm_temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    llm_threads: int | None = Field(default=None, ge=1)
    llm_max_retries: int = Field(default=2, ge=0, le=10)
    llm_retry_delay: float = Field(default=1.0, ge=0.0)
    llm_rate_limit: float | None = Field(default=None, gt=0, description="model requests per second, per replica")
    llm_max_queue: int = Field(default=64, ge=1, le=10_000, description="turns waiting for the model before 503s")
    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = None
    azure_openai_endpoint: str | None = None
    azure_openai_api_key: SecretStr | None = None
    azure_openai_deployment: str | None = None
    azure_openai_api_version: str = "2024-10-21"

    # Retrieval
    vector_store: VectorStoreKind = "embedded"
    vector_store_url: str | None = None
    vector_store_index: str = Field(default="knowledge-base", pattern=r"^[a-z0-9][a-z0-9._-]{0,99}$")
    vector_store_api_key: SecretStr | None = None
    vector_store_username: str | None = None
    vector_store_password: SecretStr | None = None
    vector_store_aws_region: str | None = Field(default=None, description="sign OpenSearch requests (SigV4)")
    vector_store_timeout: float = Field(default=2.0, gt=0, le=60, description="seconds, per search")
    vector_store_verify_certs: bool = True
    vector_store_snapshot_repository: str | None = Field(default=None, description="OpenSearch snapshot repository")
    pinecone_api_key: SecretStr | None = None
    pinecone_namespace: str = ""
    embedding_model: str = "all-MiniLM-L6-v2"
    enable_fallback_search: bool = False
    retrieval_top_k: int = Field(default=4, ge=1, le=50)
    rrf_k: int = Field(default=60, ge=1, le=1000, description="hybrid search: the fusion constant")
    vector_weight: float = Field(default=0.5, ge=0, le=1, description="hybrid search: the vector ranking's weight")
    bm25_weight: float = Field(default=0.5, ge=0, le=1, description="hybrid search: the BM25 ranking's weight")
    retrieval_fetch_k: int = Field(default=20, ge=1, le=200, description="hybrid search: candidates per search")
    ann_min_chunks: int = Field(default=50_000, ge=1, description="embedded store: HNSW above this many chunks")
    chunk_size: int = Field(default=800, ge=100, le=8000)
    chunk_overlap: int = Field(default=120, ge=0, le=2000)

    # Context budget
    max_context_length: int = Field(default=2048, ge=256, description="tokens")
    max_passages: int | None = Field(
        default=None, ge=1, le=50,
        description="most retrieved passages the model reads; default: 2 for the local model, all for others",
    )
    max_history_messages: int = Field(default=6, ge=0, le=100)
    history_summary: bool = Field(
        default=False, description="summarise the messages the history window lets go of (a model call after a turn)"
    )

    # Guardrails: the harm categories blocked on input (prompt injection is always blocked)
    guardrail_block_categories: str = Field(
        default="weapons,violence,self_harm,malware,illegal_drugs,hate,sexual_minors,illegal",
        description="comma-separated; empty: injection only",
    )

    # API keys: required once one was created; AUTH_REQUIRED=true requires them from the start
    auth_required: bool = False
    # A first key for a container (a secret): stored hashed at start-up, with this owner and scopes
    chatbot_bootstrap_key: SecretStr | None = Field(default=None, description="at least 32 characters")
    chatbot_bootstrap_owner: str = Field(default="admin", pattern=r"^[A-Za-z0-9_.@-]{1,64}$")
    chatbot_bootstrap_scopes: str = "admin"
    # Browser origins besides the service's own that may call it (CORS) and open its WebSocket
    allowed_origins: str = Field(default="", description="comma-separated, e.g. https://chat.example.com")

    # Per API key (not in local-only mode): shared by replicas through REDIS_URL
    rate_limit_per_minute: int = Field(default=60, ge=1, description="requests per minute per API key")
    token_limit_per_day: int = Field(default=1_000_000, ge=1, description="model tokens per UTC day per API key")

    # LangSmith tracing: on exactly when a key is set
    langsmith_api_key: SecretStr | None = None

    # Logs: JSON lines to stdout and to this file (empty: stdout only)
    log_file: Path | None = Path("logs/chatbot.log")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    # Caching
    enable_response_cache: bool = False
    cache_ttl: int = Field(default=3600, ge=1)

    # State
    data_dir: Path = Path("data")
    knowledge_base_dir: Path = Path("data/knowledge_base")
    database_url: str | None = None
    redis_url: str | None = None

    # Gateway limits
    max_message_chars: int = Field(default=4000, ge=1)
    max_request_bytes: int = Field(default=64 * 1024, ge=1024)

    @field_validator("llm_model_path", mode="before")
    @classmethod
    def _empty_path_is_default(cls, value: object) -> object:
        return None if value in ("", None) else value

    @model_validator(mode="after")
    def _a_ranking_counts(self) -> Settings:
        if self.vector_weight == 0 and self.bm25_weight == 0:
            raise ValueError("VECTOR_WEIGHT and BM25_WEIGHT cannot both be 0")
        return self

    @field_validator("llm_fallbacks")
    @classmethod
    def _known_fallbacks(cls, value: str) -> str:
        allowed = get_args(LLMProvider)
        names = [n.strip() for n in value.split(",") if n.strip()]
        if unknown := [n for n in names if n not in allowed]:
            raise ValueError(f"unknown provider(s) {', '.join(unknown)}; allowed: {', '.join(allowed)}")
        return ",".join(names)

    @field_validator("chatbot_bootstrap_key", mode="before")
    @classmethod
    def _empty_key_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("chatbot_bootstrap_key")
    @classmethod
    def _long_bootstrap_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 32:
            raise ValueError("must be at least 32 characters (e.g. `openssl rand -hex 32`)")
        return value

    @property
    def origins(self) -> frozenset[str]:
        return frozenset(o.strip().rstrip("/").lower() for o in self.allowed_origins.split(",") if o.strip())

    @property
    def fallback_providers(self) -> list[str]:
        return [n for n in self.llm_fallbacks.split(",") if n]

    @cached_property
    def index_dir(self) -> Path:
        """Where the embedded store keeps its index files and aliases."""
        return self.data_dir / "index"

    @cached_property
    def checkpoint_url(self) -> str:
        """Where conversations live: DATABASE_URL, or a SQLite file under DATA_DIR."""
        return self.database_url or f"sqlite:///{self.data_dir / 'checkpoints.sqlite'}"

    @cached_property
    def ledger_url(self) -> str:
        """Where the usage and tool-call ledgers live: DATABASE_URL, or a SQLite file under DATA_DIR."""
        return self.database_url or f"sqlite:///{self.data_dir / 'usage.sqlite'}"


def load_settings(**overrides: object) -> Settings:
    """Read the settings, turning validation errors into one readable start-up error."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            (f"{'.'.join(str(p) for p in err['loc']).upper()}: " if err["loc"] else "")
            + err["msg"].removeprefix("Value error, ")
            for err in exc.errors()
        )
        raise ConfigurationError(f"invalid settings: {problems}") from None
