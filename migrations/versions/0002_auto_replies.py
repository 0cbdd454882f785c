"""reply rules: keyword auto-replies, follow greeting, default reply

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

NOW = sa.text("CURRENT_TIMESTAMP")


def upgrade() -> None:
    op.create_table(
        "reply_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("match", sa.String(16), nullable=False),
        sa.Column("keyword", sa.String(64)),
        sa.Column("reply_kind", sa.String(8), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("articles", sa.JSON(), nullable=False),
        sa.Column("priority", sa.Integer(), server_default="0", nullable=False),
        sa.Column("enabled", sa.Boolean(), server_default="1", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.CheckConstraint(
            "\"match\" IN ('exact', 'contains', 'follow', 'default')", name=op.f("ck_reply_rules_match_known")
        ),
        sa.CheckConstraint("reply_kind IN ('text', 'news')", name=op.f("ck_reply_rules_reply_kind_known")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reply_rules")),
    )
    # Partial unique index: at most one enabled follow greeting and one enabled default reply.
    op.create_index(
        op.f("ix_reply_rules_match"),
        "reply_rules",
        ["match"],
        unique=True,
        postgresql_where=sa.text("enabled AND \"match\" IN ('follow', 'default')"),
        sqlite_where=sa.text("enabled = 1 AND \"match\" IN ('follow', 'default')"),
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_reply_rules_match"), table_name="reply_rules")
    op.drop_table("reply_rules")
