"""deliveries to customer groups (work_group): a delivery names a customer or a group's
chat_id; customer_id becomes nullable (PostgreSQL: ALTER COLUMN … DROP NOT NULL; SQLite: the
table is rebuilt in batch mode)

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-22
"""

from alembic import op
import sqlalchemy as sa


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('chat_id', sa.String(length=64), nullable=True))
        batch_op.alter_column('customer_id', existing_type=_ID, nullable=True)
        batch_op.create_check_constraint(batch_op.f('ck_deliveries_to_someone'),
                                         'customer_id IS NOT NULL OR chat_id IS NOT NULL')


def downgrade() -> None:
    op.execute("DELETE FROM deliveries WHERE customer_id IS NULL")
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_deliveries_to_someone'), type_='check')
        batch_op.alter_column('customer_id', existing_type=_ID, nullable=False)
        batch_op.drop_column('chat_id')
