"""customer groups (客户群) and their joins/quits per day, customers' birthdays, and a trigger
fires once per campaign and occurrence (a partial unique index on campaign_runs)

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-22
"""

from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('customer_groups',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('chat_id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('owner_userid', sa.String(length=64), nullable=False),
    sa.Column('owner_guide_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=10), server_default='normal', nullable=False),
    sa.Column('member_count', sa.Integer(), server_default='0', nullable=False),
    sa.Column('external_count', sa.Integer(), server_default='0', nullable=False),
    sa.Column('notice', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('dismissed_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['owner_guide_id'], ['guides.id'], name=op.f('fk_customer_groups_owner_guide_id_guides'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_customer_groups')),
    sa.UniqueConstraint('chat_id', name=op.f('uq_customer_groups_chat_id'))
    )
    with op.batch_alter_table('customer_groups', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_customer_groups_owner_guide_id'), ['owner_guide_id'], unique=False)

    op.create_table('group_day_stats',
    sa.Column('group_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('joined', sa.Integer(), server_default='0', nullable=False),
    sa.Column('quit', sa.Integer(), server_default='0', nullable=False),
    sa.ForeignKeyConstraint(['group_id'], ['customer_groups.id'], name=op.f('fk_group_day_stats_group_id_customer_groups'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('group_id', 'day', name=op.f('pk_group_day_stats'))
    )
    op.create_table('group_members',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('group_id', sa.Integer(), nullable=False),
    sa.Column('userid', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.SmallInteger(), nullable=False),
    sa.Column('customer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('join_time', sa.DateTime(timezone=True), nullable=True),
    sa.Column('join_scene', sa.SmallInteger(), nullable=True),
    sa.Column('left_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_group_members_customer_id_customers'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['group_id'], ['customer_groups.id'], name=op.f('fk_group_members_group_id_customer_groups'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_group_members')),
    sa.UniqueConstraint('group_id', 'userid', name=op.f('uq_group_members_group_id_userid'))
    )
    with op.batch_alter_table('group_members', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_group_members_customer_id'), ['customer_id'], unique=False)

    with op.batch_alter_table('campaign_runs', schema=None) as batch_op:
        batch_op.create_index('uq_campaign_runs_trigger', ['campaign_id', 'cause'], unique=True, postgresql_where=sa.text("cause <> 'schedule'"), sqlite_where=sa.text("cause <> 'schedule'"))

    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('birthday', sa.Date(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.drop_column('birthday')

    with op.batch_alter_table('campaign_runs', schema=None) as batch_op:
        batch_op.drop_index('uq_campaign_runs_trigger', postgresql_where=sa.text("cause <> 'schedule'"), sqlite_where=sa.text("cause <> 'schedule'"))

    with op.batch_alter_table('group_members', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_group_members_customer_id'))

    op.drop_table('group_members')
    op.drop_table('group_day_stats')
    with op.batch_alter_table('customer_groups', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_customer_groups_owner_guide_id'))

    op.drop_table('customer_groups')