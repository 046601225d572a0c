"""The service's own tables, as SQLAlchemy Core: one definition for SQLite and PostgreSQL.

Two groups, each in its own database by default: the ledgers (API keys, model usage, tool
calls, feedback, the model registry) live at DATABASE_URL or `DATA_DIR/usage.sqlite`; the
conversation registry lives beside LangGraph's checkpoints, at DATABASE_URL or
`DATA_DIR/checkpoints.sqlite`. Alembic migrates each group as a branch of its own
(app/ledgers/migrations); LangGraph's checkpointers keep their own schema.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Double, Index, Integer, MetaData, PrimaryKeyConstraint, Table, Text, text

metadata = MetaData()

api_keys = Table(
    "api_keys", metadata,
    Column("prefix", Text, primary_key=True),
    Column("key_hash", Text, nullable=False, unique=True),
    Column("owner", Text, nullable=False),
    Column("scopes", Text, nullable=False),  # comma-separated
    Column("created_at", Double, nullable=False),
    Column("revoked_at", Double),
    Column("last_used_at", Double),
)

llm_usage = Table(
    "llm_usage", metadata,
    Column("at", Double, nullable=False),
    Column("day", Text, nullable=False),  # YYYY-MM-DD, UTC
    Column("conversation_id", Text),
    Column("provider", Text, nullable=False),
    Column("model", Text, nullable=False),
    Column("outcome", Text, nullable=False),
    Column("prompt_tokens", Integer, nullable=False),
    Column("completion_tokens", Integer, nullable=False),
    Column("latency_ms", Double, nullable=False),
    Column("cost_usd", Double, nullable=False),
    Column("estimated", Boolean, nullable=False),
    Index("llm_usage_day", "day"),
)

tool_calls = Table(
    "tool_calls", metadata,
    Column("at", Double, nullable=False),
    Column("tool", Text, nullable=False),
    Column("arguments", Text, nullable=False),  # JSON, secrets masked
    Column("outcome", Text, nullable=False),
    Column("duration_ms", Double, nullable=False),
    Column("error", Text),
    Column("conversation_id", Text),
    Index("tool_calls_at", "at"),
    Index("tool_calls_conversation", "conversation_id"),
)

feedback = Table(
    "feedback", metadata,
    Column("conversation_id", Text, nullable=False),
    Column("message_id", Text, nullable=False),
    Column("owner", Text, nullable=False),
    Column("rating", Integer, nullable=False),
    Column("comment", Text),
    Column("question", Text, nullable=False),
    Column("answer", Text, nullable=False),
    Column("cited", Text, nullable=False),  # JSON list of document ids
    Column("created_at", Double, nullable=False),
    PrimaryKeyConstraint("message_id", "owner"),
    Index("feedback_created", "created_at"),
    Index("feedback_conversation", "conversation_id"),
)

registry_models = Table(
    "registry_models", metadata,
    Column("name", Text, nullable=False),
    Column("version", Text, nullable=False),
    Column("registered_at", Double, nullable=False),
    Column("artifact_uri", Text, nullable=False),
    PrimaryKeyConstraint("name", "version"),
)

registry_deployments = Table(
    "registry_deployments", metadata,
    Column("id", Text, primary_key=True),
    Column("model", Text, nullable=False),
    Column("version", Text, nullable=False),
    Column("environment", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("endpoint", Text),
    Column("requested_at", Double, nullable=False),
    Column("decided_by", Text),
    Column("comment", Text),
    Index("registry_deployments_model", "model", "environment"),
)

conversations = Table(
    "conversations", metadata,
    Column("id", Text, primary_key=True),
    Column("status", Text, nullable=False, server_default=text("'active'")),
    Column("created_at", Double, nullable=False),
    Column("updated_at", Double, nullable=False),  # when its last turn ended
    Column("turns", Integer, nullable=False, server_default=text("0")),
    Column("owner", Text, nullable=False, server_default=text("'local'")),
    Column("title", Text),  # its first question (masked), until its owner renames it
    Index("conversations_status", "status", "updated_at"),
    Index("conversations_owner", "owner", "updated_at"),
)

# Which tables each migration branch (and so each database) holds.
BRANCH_TABLES: dict[str, tuple[Table, ...]] = {
    "ledgers": (api_keys, llm_usage, tool_calls, feedback, registry_models, registry_deployments),
    "conversations": (conversations,),
}
