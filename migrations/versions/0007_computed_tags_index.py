"""customer_tags: a partial index on the computed rows, for the recompute's change search

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22
"""

from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('customer_tags', schema=None) as batch_op:
        batch_op.create_index('ix_customer_tags_computed', ['customer_id'], unique=False,
                              postgresql_where=sa.text('computed'), sqlite_where=sa.text('computed'))


def downgrade() -> None:
    with op.batch_alter_table('customer_tags', schema=None) as batch_op:
        batch_op.drop_index('ix_customer_tags_computed', postgresql_where=sa.text('computed'),
                            sqlite_where=sa.text('computed'))
