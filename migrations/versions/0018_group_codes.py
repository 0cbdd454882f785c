"""Group live codes (群活码): the codes, their groups in order, their WeCom join ways, joins per
way, group and day; and the state a group member joined by

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07
"""

from alembic import op
import sqlalchemy as sa


revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('group_codes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('member_limit', sa.Integer(), server_default='200', nullable=False),
    sa.Column('auto_create', sa.Boolean(), server_default='0', nullable=False),
    sa.Column('room_base_name', sa.String(length=40), server_default='', nullable=False),
    sa.Column('room_base_id', sa.Integer(), server_default='1', nullable=False),
    sa.Column('welcome_template_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=10), server_default='active', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('retired_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.Column('pushed_version', sa.Integer(), server_default='0', nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_group_codes'))
    )
    op.create_table('group_code_ways',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code_id', sa.Integer(), nullable=False),
    sa.Column('config_id', sa.String(length=64), nullable=False),
    sa.Column('state', sa.String(length=30), nullable=False),
    sa.Column('source', sa.String(length=10), nullable=False),
    sa.Column('source_id', sa.Integer(), nullable=True),
    sa.Column('qr_code', sa.String(length=512), server_default='', nullable=False),
    sa.Column('pushed_version', sa.Integer(), server_default='0', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['code_id'], ['group_codes.id'], name=op.f('fk_group_code_ways_code_id_group_codes'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_group_code_ways')),
    sa.UniqueConstraint('config_id', name=op.f('uq_group_code_ways_config_id')),
    sa.UniqueConstraint('state', name=op.f('uq_group_code_ways_state'))
    )
    with op.batch_alter_table('group_code_ways', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_group_code_ways_code_id'), ['code_id'], unique=False)

    op.create_table('group_code_chats',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code_id', sa.Integer(), nullable=False),
    sa.Column('group_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), server_default='0', nullable=False),
    sa.Column('added_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('removed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('removed_reason', sa.String(length=10), nullable=True),
    sa.Column('welcome_asked_template_id', sa.Integer(), nullable=True),
    sa.Column('welcome_asked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['code_id'], ['group_codes.id'], name=op.f('fk_group_code_chats_code_id_group_codes'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['group_id'], ['customer_groups.id'], name=op.f('fk_group_code_chats_group_id_customer_groups'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_group_code_chats'))
    )
    with op.batch_alter_table('group_code_chats', schema=None) as batch_op:
        batch_op.create_index('ix_group_code_chats_code_id_removed_at', ['code_id', 'removed_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_group_code_chats_group_id'), ['group_id'], unique=False)

    op.create_table('group_code_day_stats',
    sa.Column('way_id', sa.Integer(), nullable=False),
    sa.Column('group_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('code_id', sa.Integer(), nullable=False),
    sa.Column('joined', sa.Integer(), server_default='0', nullable=False),
    sa.ForeignKeyConstraint(['code_id'], ['group_codes.id'], name=op.f('fk_group_code_day_stats_code_id_group_codes'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['group_id'], ['customer_groups.id'], name=op.f('fk_group_code_day_stats_group_id_customer_groups'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['way_id'], ['group_code_ways.id'], name=op.f('fk_group_code_day_stats_way_id_group_code_ways'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('way_id', 'group_id', 'day', name=op.f('pk_group_code_day_stats'))
    )
    with op.batch_alter_table('group_code_day_stats', schema=None) as batch_op:
        batch_op.create_index('ix_group_code_day_stats_code_id_day', ['code_id', 'day'], unique=False)

    with op.batch_alter_table('group_members', schema=None) as batch_op:
        batch_op.add_column(sa.Column('state', sa.String(length=30), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('group_members', schema=None) as batch_op:
        batch_op.drop_column('state')

    with op.batch_alter_table('group_code_day_stats', schema=None) as batch_op:
        batch_op.drop_index('ix_group_code_day_stats_code_id_day')

    op.drop_table('group_code_day_stats')
    with op.batch_alter_table('group_code_chats', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_group_code_chats_group_id'))
        batch_op.drop_index('ix_group_code_chats_code_id_removed_at')

    op.drop_table('group_code_chats')
    with op.batch_alter_table('group_code_ways', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_group_code_ways_code_id'))

    op.drop_table('group_code_ways')
    op.drop_table('group_codes')
