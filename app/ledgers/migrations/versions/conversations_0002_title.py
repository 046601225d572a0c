"""conversations: a title for each, which its owner may change (the chat page's list)

Revision ID: conversations_0002
Revises: conversations_0001
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "conversations_0002"
down_revision = "conversations_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("conversations", sa.Column("title", sa.Text))


def downgrade() -> None:
    with op.batch_alter_table("conversations") as table:  # SQLite drops a column by copying the table
        table.drop_column("title")
