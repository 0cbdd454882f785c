"""WeCom mass-message tasks (企业群发) handed to guides, pending until WeCom says they sent them

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-22
"""

from alembic import op
import sqlalchemy as sa


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('wecom_tasks',
    sa.Column('id', _ID, nullable=False),
    sa.Column('msgid', sa.String(length=64), nullable=False),
    sa.Column('chat_type', sa.String(length=8), nullable=False),
    sa.Column('sender', sa.String(length=64), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('run_id', _ID, nullable=False),
    sa.Column('variant', sa.String(length=16), nullable=False),
    sa.Column('targets', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('checked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_wecom_tasks_campaign_id_campaigns'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['run_id'], ['campaign_runs.id'], name=op.f('fk_wecom_tasks_run_id_campaign_runs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_wecom_tasks')),
    sa.UniqueConstraint('msgid', name=op.f('uq_wecom_tasks_msgid'))
    )
    with op.batch_alter_table('wecom_tasks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_wecom_tasks_campaign_id'), ['campaign_id'], unique=False)
        batch_op.create_index('ix_wecom_tasks_sender', ['sender', 'status'], unique=False)


def downgrade() -> None:
    op.drop_table('wecom_tasks')
