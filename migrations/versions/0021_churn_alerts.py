"""Churn alerts (流失提醒): a customer who deleted their guide or quit the guide's group

One row per guide, customer, kind, group and local day (WeCom's retries and the sync's
re-reads make one alert); the guide's unseen alerts are read by guide.

Revision ID: 0021
Revises: 0017
Create Date: 2026-12-07
"""

from alembic import op
import sqlalchemy as sa


revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('churn_alerts',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('guide_id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('chat_id', sa.String(length=64), server_default='', nullable=False),
    sa.Column('group_name', sa.String(length=128), server_default='', nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('seen_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('notified_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_churn_alerts_customer_id_customers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['guide_id'], ['guides.id'], name=op.f('fk_churn_alerts_guide_id_guides'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_churn_alerts')),
    sa.UniqueConstraint('guide_id', 'customer_id', 'kind', 'chat_id', 'day', name=op.f('uq_churn_alerts_guide_id_customer_id_kind_chat_id_day'))
    )
    with op.batch_alter_table('churn_alerts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_churn_alerts_customer_id'), ['customer_id'], unique=False)
        batch_op.create_index('ix_churn_alerts_guide_id_seen_at', ['guide_id', 'seen_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('churn_alerts', schema=None) as batch_op:
        batch_op.drop_index('ix_churn_alerts_guide_id_seen_at')
        batch_op.drop_index(batch_op.f('ix_churn_alerts_customer_id'))
    op.drop_table('churn_alerts')
