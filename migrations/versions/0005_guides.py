"""guides: stores, guides, bindings, transfers; channel codes and their stats

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""

from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('stores',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('address', sa.String(length=200), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stores')),
    sa.UniqueConstraint('code', name=op.f('uq_stores_code'))
    )
    op.create_table('guides',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('store_id', sa.Integer(), nullable=False),
    sa.Column('wecom_userid', sa.String(length=64), nullable=False),
    sa.Column('photo_url', sa.String(length=500), nullable=True),
    sa.Column('welcome_text', sa.Text(), nullable=True),
    sa.Column('schedule', sa.JSON(), nullable=False),
    sa.Column('daily_cap', sa.Integer(), nullable=True),
    sa.Column('backup', sa.Boolean(), server_default='0', nullable=False),
    sa.Column('status', sa.String(length=8), server_default='active', nullable=False),
    sa.Column('left_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.ForeignKeyConstraint(['store_id'], ['stores.id'], name=op.f('fk_guides_store_id_stores')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_guides')),
    sa.UniqueConstraint('code', name=op.f('uq_guides_code')),
    sa.UniqueConstraint('wecom_userid', name=op.f('uq_guides_wecom_userid'))
    )
    with op.batch_alter_table('guides', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_guides_store_id'), ['store_id'], unique=False)

    op.create_table('channel_codes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('channel', sa.String(length=8), nullable=False),
    sa.Column('scene', sa.String(length=64), nullable=False),
    sa.Column('guide_id', sa.Integer(), nullable=True),
    sa.Column('store_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=8), server_default='pending', nullable=False),
    sa.Column('ticket', sa.String(length=200), nullable=True),
    sa.Column('content', sa.String(length=500), nullable=True),
    sa.Column('config_id', sa.String(length=64), nullable=True),
    sa.Column('image_url', sa.String(length=500), nullable=True),
    sa.Column('image', sa.LargeBinary(), nullable=True),
    sa.Column('error', sa.String(length=500), nullable=True),
    sa.Column('attempts', sa.Integer(), server_default='0', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.Column('ready_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('retired_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['guide_id'], ['guides.id'], name=op.f('fk_channel_codes_guide_id_guides')),
    sa.ForeignKeyConstraint(['store_id'], ['stores.id'], name=op.f('fk_channel_codes_store_id_stores')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_channel_codes')),
    sa.UniqueConstraint('scene', 'channel', name=op.f('uq_channel_codes_scene_channel'))
    )
    with op.batch_alter_table('channel_codes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_channel_codes_guide_id'), ['guide_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_channel_codes_store_id'), ['store_id'], unique=False)

    op.create_table('guide_transfers',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('customer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('external_userid', sa.String(length=64), nullable=False),
    sa.Column('from_guide_id', sa.Integer(), nullable=False),
    sa.Column('to_guide_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=8), server_default='pending', nullable=False),
    sa.Column('errcode', sa.Integer(), nullable=True),
    sa.Column('reason', sa.String(length=200), nullable=True),
    sa.Column('attempts', sa.Integer(), server_default='0', nullable=False),
    sa.Column('next_try_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('done_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_guide_transfers_customer_id_customers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['from_guide_id'], ['guides.id'], name=op.f('fk_guide_transfers_from_guide_id_guides')),
    sa.ForeignKeyConstraint(['to_guide_id'], ['guides.id'], name=op.f('fk_guide_transfers_to_guide_id_guides')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_guide_transfers'))
    )
    with op.batch_alter_table('guide_transfers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_guide_transfers_customer_id'), ['customer_id'], unique=False)
        batch_op.create_index('ix_guide_transfers_due', ['status', 'next_try_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_guide_transfers_from_guide_id'), ['from_guide_id'], unique=False)

    op.create_table('code_day_stats',
    sa.Column('code_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('scans', sa.Integer(), server_default='0', nullable=False),
    sa.Column('follows', sa.Integer(), server_default='0', nullable=False),
    sa.Column('bindings', sa.Integer(), server_default='0', nullable=False),
    sa.Column('orders', sa.Integer(), server_default='0', nullable=False),
    sa.Column('order_amount', sa.Numeric(precision=14, scale=2), server_default='0', nullable=False),
    sa.Column('redemptions', sa.Integer(), server_default='0', nullable=False),
    sa.ForeignKeyConstraint(['code_id'], ['channel_codes.id'], name=op.f('fk_code_day_stats_code_id_channel_codes'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('code_id', 'day', name=op.f('pk_code_day_stats'))
    )
    op.create_table('guide_bindings',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('customer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('guide_id', sa.Integer(), nullable=False),
    sa.Column('code_id', sa.Integer(), nullable=True),
    sa.Column('channel', sa.String(length=8), nullable=True),
    sa.Column('bound_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('protected_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('end_reason', sa.String(length=16), nullable=True),
    sa.ForeignKeyConstraint(['code_id'], ['channel_codes.id'], name=op.f('fk_guide_bindings_code_id_channel_codes'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_guide_bindings_customer_id_customers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['guide_id'], ['guides.id'], name=op.f('fk_guide_bindings_guide_id_guides')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_guide_bindings'))
    )
    with op.batch_alter_table('guide_bindings', schema=None) as batch_op:
        batch_op.create_index('ix_guide_bindings_guide_current', ['guide_id', 'ended_at'], unique=False)
        batch_op.create_index('uq_guide_bindings_current', ['customer_id'], unique=True, postgresql_where=sa.text('ended_at IS NULL'), sqlite_where=sa.text('ended_at IS NULL'))

    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('credited_guide_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_orders_credited_guide_id'), ['credited_guide_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_orders_credited_guide_id_guides'), 'guides', ['credited_guide_id'], ['id'])



def downgrade() -> None:
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_orders_credited_guide_id_guides'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_orders_credited_guide_id'))
        batch_op.drop_column('credited_guide_id')

    with op.batch_alter_table('guide_bindings', schema=None) as batch_op:
        batch_op.drop_index('uq_guide_bindings_current', postgresql_where=sa.text('ended_at IS NULL'), sqlite_where=sa.text('ended_at IS NULL'))
        batch_op.drop_index('ix_guide_bindings_guide_current')

    op.drop_table('guide_bindings')
    op.drop_table('code_day_stats')
    with op.batch_alter_table('guide_transfers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_guide_transfers_from_guide_id'))
        batch_op.drop_index('ix_guide_transfers_due')
        batch_op.drop_index(batch_op.f('ix_guide_transfers_customer_id'))

    op.drop_table('guide_transfers')
    with op.batch_alter_table('channel_codes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_channel_codes_store_id'))
        batch_op.drop_index(batch_op.f('ix_channel_codes_guide_id'))

    op.drop_table('channel_codes')
    with op.batch_alter_table('guides', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_guides_store_id'))

    op.drop_table('guides')
    op.drop_table('stores')
