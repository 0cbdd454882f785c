"""tag mirror: why an MP tag could not be made; the corp tags of member–customer pairs

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22
"""

from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('wecom_pair_tags',
    sa.Column('customer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('userid', sa.String(length=64), nullable=False),
    sa.Column('tag_ids', sa.JSON(), nullable=False),
    sa.Column('seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_wecom_pair_tags_customer_id_customers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('customer_id', 'userid', name=op.f('pk_wecom_pair_tags'))
    )
    with op.batch_alter_table('tags', schema=None) as batch_op:
        batch_op.add_column(sa.Column('mp_error', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('mp_failed_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('tags', schema=None) as batch_op:
        batch_op.drop_column('mp_failed_at')
        batch_op.drop_column('mp_error')

    op.drop_table('wecom_pair_tags')
