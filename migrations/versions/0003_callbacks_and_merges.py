"""callback ledger; customers merged into another

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "callbacks",
        sa.Column("id", BigId, nullable=False),
        sa.Column("channel", sa.String(8), nullable=False),
        sa.Column("dedupe_key", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("customer_id", BigId),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("reply", sa.JSON()),
        sa.Column("received_at", sa.DateTime(timezone=True), server_default=sa.text("CURRENT_TIMESTAMP"), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_callbacks_customer_id_customers"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_callbacks")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_callbacks_dedupe_key")),
    )
    op.create_index(op.f("ix_callbacks_customer_id"), "callbacks", ["customer_id"])
    op.create_index(op.f("ix_callbacks_received_at"), "callbacks", ["received_at"])
    with op.batch_alter_table("customers") as batch:
        batch.add_column(sa.Column("merged_into_id", BigId))
        batch.create_foreign_key(op.f("fk_customers_merged_into_id_customers"), "customers", ["merged_into_id"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("customers") as batch:
        batch.drop_constraint(op.f("fk_customers_merged_into_id_customers"), type_="foreignkey")
        batch.drop_column("merged_into_id")
    op.drop_table("callbacks")
