"""The sandbox's WeChat world (followers, members, customers, groups, tags, codes, messages) in the database

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 00:10:54.036554
"""

from alembic import op
import sqlalchemy as sa


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('sandbox_counters',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('value', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_sandbox_counters'))
    )
    op.create_table('sandbox_customers',
    sa.Column('external_userid', sa.String(length=128), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('unionid', sa.String(length=128), nullable=True),
    sa.Column('transfers', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('external_userid', name=op.f('pk_sandbox_customers'))
    )
    op.create_table('sandbox_documents',
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('key', sa.String(length=512), nullable=False),
    sa.Column('doc', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('kind', 'key', name=op.f('pk_sandbox_documents'))
    )
    op.create_table('sandbox_follower_tags',
    sa.Column('openid', sa.String(length=128), nullable=False),
    sa.Column('tag_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.PrimaryKeyConstraint('openid', 'tag_id', name=op.f('pk_sandbox_follower_tags'))
    )
    with op.batch_alter_table('sandbox_follower_tags', schema=None) as batch_op:
        batch_op.create_index('ix_sandbox_follower_tags_tag_id', ['tag_id'], unique=False)

    op.create_table('sandbox_followers',
    sa.Column('openid', sa.String(length=128), nullable=False),
    sa.Column('subscribe', sa.SmallInteger(), nullable=False),
    sa.Column('subscribe_time', sa.BigInteger(), nullable=True),
    sa.Column('nickname', sa.Text(), nullable=True),
    sa.Column('unionid', sa.String(length=128), nullable=True),
    sa.Column('last_message_at', sa.BigInteger(), nullable=True),
    sa.Column('replies', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('openid', name=op.f('pk_sandbox_followers'))
    )
    op.create_table('sandbox_members',
    sa.Column('userid', sa.String(length=128), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('department', sa.JSON(), nullable=False),
    sa.Column('position', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('userid', name=op.f('pk_sandbox_members'))
    )
    op.create_table('sandbox_messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=8), nullable=False),
    sa.Column('recipient', sa.String(length=128), nullable=False),
    sa.Column('body', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sandbox_messages'))
    )
    with op.batch_alter_table('sandbox_messages', schema=None) as batch_op:
        batch_op.create_index('ix_sandbox_messages_channel_recipient', ['channel', 'recipient', 'id'], unique=False)

    op.create_table('sandbox_mp_tags',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sandbox_mp_tags'))
    )
    op.create_table('sandbox_relation_tags',
    sa.Column('external_userid', sa.String(length=128), nullable=False),
    sa.Column('userid', sa.String(length=128), nullable=False),
    sa.Column('tag_id', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('external_userid', 'userid', 'tag_id', name=op.f('pk_sandbox_relation_tags'))
    )
    op.create_table('sandbox_relations',
    sa.Column('external_userid', sa.String(length=128), nullable=False),
    sa.Column('userid', sa.String(length=128), nullable=False),
    sa.Column('relation', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('external_userid', 'userid', name=op.f('pk_sandbox_relations'))
    )


def downgrade() -> None:
    op.drop_table('sandbox_relations')
    op.drop_table('sandbox_relation_tags')
    op.drop_table('sandbox_mp_tags')
    with op.batch_alter_table('sandbox_messages', schema=None) as batch_op:
        batch_op.drop_index('ix_sandbox_messages_channel_recipient')

    op.drop_table('sandbox_messages')
    op.drop_table('sandbox_members')
    op.drop_table('sandbox_followers')
    with op.batch_alter_table('sandbox_follower_tags', schema=None) as batch_op:
        batch_op.drop_index('ix_sandbox_follower_tags_tag_id')

    op.drop_table('sandbox_follower_tags')
    op.drop_table('sandbox_documents')
    op.drop_table('sandbox_customers')
    op.drop_table('sandbox_counters')
