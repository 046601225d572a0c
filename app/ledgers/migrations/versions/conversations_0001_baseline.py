"""conversations: the registry of conversations beside the checkpoints

The table as the service made it before migrations existed: created where missing, and
adopted as it is where it was made, with the owner column older versions lacked (their
conversations belonged to the local owner).

Revision ID: conversations_0001
Revises:
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "conversations_0001"
down_revision = None
branch_labels = ("conversations",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "conversations",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("status", sa.Text, nullable=False, server_default=sa.text("'active'")),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("updated_at", sa.Double, nullable=False),
        sa.Column("turns", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("owner", sa.Text, nullable=False, server_default=sa.text("'local'")),
        if_not_exists=True,
    )
    if "owner" not in {c["name"] for c in sa.inspect(op.get_bind()).get_columns("conversations")}:
        op.add_column("conversations", sa.Column("owner", sa.Text, nullable=False, server_default=sa.text("'local'")))
    op.create_index("conversations_status", "conversations", ["status", "updated_at"], if_not_exists=True)
    op.create_index("conversations_owner", "conversations", ["owner", "updated_at"], if_not_exists=True)


def downgrade() -> None:
    raise NotImplementedError("the baseline is not undone: it would drop the conversation registry")
