"""group SOP (群SOP): plans, their steps, and one task per step, owner and due moment

Revision ID: 0020
Revises: 0017
Create Date: 2026-12-07
"""

from alembic import op
import sqlalchemy as sa


revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('group_sops',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=10), server_default='active', nullable=False),
    sa.Column('selector_kind', sa.String(length=8), nullable=False),
    sa.Column('selector_value', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_group_sops'))
    )
    op.create_table('group_sop_steps',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sop_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.SmallInteger(), nullable=False),
    sa.Column('day_offset', sa.SmallInteger(), nullable=True),
    sa.Column('weekday', sa.SmallInteger(), nullable=True),
    sa.Column('at_time', sa.String(length=5), nullable=False),
    sa.Column('content', sa.JSON(), nullable=False),
    sa.Column('deadline_minutes', sa.Integer(), server_default='120', nullable=False),
    sa.ForeignKeyConstraint(['sop_id'], ['group_sops.id'], name=op.f('fk_group_sop_steps_sop_id_group_sops'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_group_sop_steps')),
    sa.UniqueConstraint('sop_id', 'position', name=op.f('uq_group_sop_steps_sop_id_position'))
    )
    op.create_table('group_sop_tasks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('step_id', sa.Integer(), nullable=False),
    sa.Column('owner_userid', sa.String(length=64), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('deadline_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('chat_ids', sa.JSON(), nullable=False),
    sa.Column('msgid', sa.String(length=64), nullable=True),
    sa.Column('status', sa.String(length=8), server_default='pending', nullable=False),
    sa.Column('error', sa.String(length=200), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('checked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('reminded_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['step_id'], ['group_sop_steps.id'], name=op.f('fk_group_sop_tasks_step_id_group_sop_steps'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_group_sop_tasks')),
    sa.UniqueConstraint('step_id', 'owner_userid', 'due_at', name=op.f('uq_group_sop_tasks_step_id_owner_userid_due_at'))
    )
    with op.batch_alter_table('group_sop_tasks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_group_sop_tasks_deadline_at'), ['deadline_at'], unique=False)
        batch_op.create_index('ix_group_sop_tasks_owner', ['owner_userid', 'status'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('group_sop_tasks', schema=None) as batch_op:
        batch_op.drop_index('ix_group_sop_tasks_owner')
        batch_op.drop_index(batch_op.f('ix_group_sop_tasks_deadline_at'))

    op.drop_table('group_sop_tasks')
    op.drop_table('group_sop_steps')
    op.drop_table('group_sops')
