"""ledgers: API keys, model usage, tool calls, feedback and the model registry

The tables as the service made them before migrations existed (main 09b59f5 and the
security review after it): created where missing, and a database made by those versions
is adopted as it is, with the column and indexes the later of them added.

Revision ID: ledgers_0001
Revises:
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "ledgers_0001"
down_revision = None
branch_labels = ("ledgers",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("prefix", sa.Text, primary_key=True),
        sa.Column("key_hash", sa.Text, nullable=False, unique=True),
        sa.Column("owner", sa.Text, nullable=False),
        sa.Column("scopes", sa.Text, nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("revoked_at", sa.Double),
        sa.Column("last_used_at", sa.Double),
        if_not_exists=True,
    )
    op.create_table(
        "llm_usage",
        sa.Column("at", sa.Double, nullable=False),
        sa.Column("day", sa.Text, nullable=False),
        sa.Column("conversation_id", sa.Text),
        sa.Column("provider", sa.Text, nullable=False),
        sa.Column("model", sa.Text, nullable=False),
        sa.Column("outcome", sa.Text, nullable=False),
        sa.Column("prompt_tokens", sa.Integer, nullable=False),
        sa.Column("completion_tokens", sa.Integer, nullable=False),
        sa.Column("latency_ms", sa.Double, nullable=False),
        sa.Column("cost_usd", sa.Double, nullable=False),
        sa.Column("estimated", sa.Boolean, nullable=False),
        if_not_exists=True,
    )
    op.create_index("llm_usage_day", "llm_usage", ["day"], if_not_exists=True)
    op.create_table(
        "tool_calls",
        sa.Column("at", sa.Double, nullable=False),
        sa.Column("tool", sa.Text, nullable=False),
        sa.Column("arguments", sa.Text, nullable=False),
        sa.Column("outcome", sa.Text, nullable=False),
        sa.Column("duration_ms", sa.Double, nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("conversation_id", sa.Text),
        if_not_exists=True,
    )
    # Versions before the security review kept no conversation id on tool calls.
    if "conversation_id" not in {c["name"] for c in sa.inspect(op.get_bind()).get_columns("tool_calls")}:
        op.add_column("tool_calls", sa.Column("conversation_id", sa.Text))
    op.create_index("tool_calls_at", "tool_calls", ["at"], if_not_exists=True)
    op.create_index("tool_calls_conversation", "tool_calls", ["conversation_id"], if_not_exists=True)
    op.create_table(
        "feedback",
        sa.Column("conversation_id", sa.Text, nullable=False),
        sa.Column("message_id", sa.Text, nullable=False),
        sa.Column("owner", sa.Text, nullable=False),
        sa.Column("rating", sa.Integer, nullable=False),
        sa.Column("comment", sa.Text),
        sa.Column("question", sa.Text, nullable=False),
        sa.Column("answer", sa.Text, nullable=False),
        sa.Column("cited", sa.Text, nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.PrimaryKeyConstraint("message_id", "owner"),
        if_not_exists=True,
    )
    op.create_index("feedback_created", "feedback", ["created_at"], if_not_exists=True)
    op.create_index("feedback_conversation", "feedback", ["conversation_id"], if_not_exists=True)
    op.create_table(
        "registry_models",
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("version", sa.Text, nullable=False),
        sa.Column("registered_at", sa.Double, nullable=False),
        sa.Column("artifact_uri", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("name", "version"),
        if_not_exists=True,
    )
    op.create_table(
        "registry_deployments",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("model", sa.Text, nullable=False),
        sa.Column("version", sa.Text, nullable=False),
        sa.Column("environment", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("endpoint", sa.Text),
        sa.Column("requested_at", sa.Double, nullable=False),
        sa.Column("decided_by", sa.Text),
        sa.Column("comment", sa.Text),
        if_not_exists=True,
    )
    op.create_index("registry_deployments_model", "registry_deployments", ["model", "environment"],
                    if_not_exists=True)


def downgrade() -> None:
    raise NotImplementedError("the baseline is not undone: it would drop the ledgers")
