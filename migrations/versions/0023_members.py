"""Membership (会员体系, SPEC §13): levels, members, the points ledger and its lots, growth,
check-ins, the points mall, SMS codes; orders gain points_used and refunds

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-07
"""

from alembic import op
import sqlalchemy as sa


revision = '0023'
down_revision = '0022'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('member_levels',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=16), nullable=False),
    sa.Column('rank', sa.Integer(), nullable=False),
    sa.Column('threshold', sa.Integer(), nullable=False),
    sa.Column('discount', sa.Numeric(precision=3, scale=2), server_default='1.00', nullable=False),
    sa.Column('points_multiplier', sa.Numeric(precision=4, scale=2), server_default='1.00', nullable=False),
    sa.Column('benefits', sa.JSON(), nullable=False),
    sa.Column('level_up_template_id', sa.Integer(), nullable=True),
    sa.Column('birthday_template_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['birthday_template_id'], ['coupon_templates.id'], name=op.f('fk_member_levels_birthday_template_id_coupon_templates'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['level_up_template_id'], ['coupon_templates.id'], name=op.f('fk_member_levels_level_up_template_id_coupon_templates'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_member_levels')),
    sa.UniqueConstraint('name', name=op.f('uq_member_levels_name')),
    sa.UniqueConstraint('rank', name=op.f('uq_member_levels_rank'))
    )
    op.create_table('sms_codes',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('phone', sa.String(length=32), nullable=False),
    sa.Column('purpose', sa.String(length=16), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('customer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('attempts', sa.Integer(), server_default='0', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_sms_codes_customer_id_customers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sms_codes'))
    )
    with op.batch_alter_table('sms_codes', schema=None) as batch_op:
        batch_op.create_index('ix_sms_codes_phone_created_at', ['phone', 'created_at'], unique=False)

    op.create_table('mall_items',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('description', sa.String(length=500), nullable=True),
    sa.Column('template_id', sa.Integer(), nullable=False),
    sa.Column('points', sa.Integer(), nullable=False),
    sa.Column('stock', sa.Integer(), nullable=True),
    sa.Column('exchanged_count', sa.Integer(), server_default='0', nullable=False),
    sa.Column('per_member_limit', sa.Integer(), nullable=True),
    sa.Column('min_level_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=8), server_default='active', nullable=False),
    sa.Column('sort', sa.Integer(), server_default='0', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['min_level_id'], ['member_levels.id'], name=op.f('fk_mall_items_min_level_id_member_levels'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['template_id'], ['coupon_templates.id'], name=op.f('fk_mall_items_template_id_coupon_templates')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mall_items'))
    )
    op.create_table('members',
    sa.Column('customer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('member_no', sa.String(length=16), nullable=False),
    sa.Column('phone', sa.String(length=32), nullable=False),
    sa.Column('birthday', sa.Date(), nullable=True),
    sa.Column('level_id', sa.Integer(), nullable=False),
    sa.Column('growth', sa.Integer(), server_default='0', nullable=False),
    sa.Column('points_balance', sa.Integer(), server_default='0', nullable=False),
    sa.Column('checkin_streak', sa.Integer(), server_default='0', nullable=False),
    sa.Column('last_checkin_day', sa.Date(), nullable=True),
    sa.Column('joined_via', sa.String(length=32), nullable=True),
    sa.Column('joined_guide_id', sa.Integer(), nullable=True),
    sa.Column('joined_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('level_changed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_members_customer_id_customers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['joined_guide_id'], ['guides.id'], name=op.f('fk_members_joined_guide_id_guides'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['level_id'], ['member_levels.id'], name=op.f('fk_members_level_id_member_levels')),
    sa.PrimaryKeyConstraint('customer_id', name=op.f('pk_members')),
    sa.UniqueConstraint('member_no', name=op.f('uq_members_member_no')),
    sa.UniqueConstraint('phone', name=op.f('uq_members_phone'))
    )
    with op.batch_alter_table('members', schema=None) as batch_op:
        batch_op.create_index('ix_members_joined_at', ['joined_at'], unique=False)
        batch_op.create_index('ix_members_level_id', ['level_id'], unique=False)

    op.create_table('growth_entries',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('customer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('amount', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('source_id', sa.String(length=64), nullable=True),
    sa.Column('idempotency_key', sa.String(length=128), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['members.customer_id'], name=op.f('fk_growth_entries_customer_id_members'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_growth_entries')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_growth_entries_idempotency_key'))
    )
    with op.batch_alter_table('growth_entries', schema=None) as batch_op:
        batch_op.create_index('ix_growth_entries_customer_id_created_at', ['customer_id', 'created_at'], unique=False)

    op.create_table('member_checkins',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('customer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('streak', sa.Integer(), nullable=False),
    sa.Column('points', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['members.customer_id'], name=op.f('fk_member_checkins_customer_id_members'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_member_checkins')),
    sa.UniqueConstraint('customer_id', 'day', name=op.f('uq_member_checkins_customer_id_day'))
    )
    with op.batch_alter_table('member_checkins', schema=None) as batch_op:
        batch_op.create_index('ix_member_checkins_day', ['day'], unique=False)

    op.create_table('order_refunds',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('order_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('refund_no', sa.String(length=64), nullable=False),
    sa.Column('amount', sa.Numeric(precision=12, scale=2), nullable=False),
    sa.Column('refunded_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_order_refunds_order_id_orders'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_order_refunds')),
    sa.UniqueConstraint('order_id', 'refund_no', name=op.f('uq_order_refunds_order_id_refund_no'))
    )
    with op.batch_alter_table('order_refunds', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_order_refunds_order_id'), ['order_id'], unique=False)

    op.create_table('point_entries',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('customer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('amount', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('source_id', sa.String(length=64), nullable=True),
    sa.Column('idempotency_key', sa.String(length=128), nullable=False),
    sa.Column('balance_after', sa.Integer(), nullable=False),
    sa.Column('available_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('remaining', sa.Integer(), server_default='0', nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=True),
    sa.Column('created_by', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['members.customer_id'], name=op.f('fk_point_entries_customer_id_members'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_point_entries')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_point_entries_idempotency_key'))
    )
    with op.batch_alter_table('point_entries', schema=None) as batch_op:
        batch_op.create_index('ix_point_entries_customer_id_id', ['customer_id', 'id'], unique=False)
        batch_op.create_index('ix_point_entries_expiring', ['expires_at'], unique=False, postgresql_where=sa.text('remaining > 0'), sqlite_where=sa.text('remaining > 0'))
        batch_op.create_index('ix_point_entries_open_lots', ['customer_id', 'expires_at', 'id'], unique=False, postgresql_where=sa.text('remaining > 0'), sqlite_where=sa.text('remaining > 0'))
        batch_op.create_index('ix_point_entries_source', ['source', 'source_id'], unique=False)

    op.create_table('mall_exchanges',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('item_id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('points', sa.Integer(), nullable=False),
    sa.Column('entry_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('coupon_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('idempotency_key', sa.String(length=128), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['coupon_id'], ['coupons.id'], name=op.f('fk_mall_exchanges_coupon_id_coupons')),
    sa.ForeignKeyConstraint(['customer_id'], ['members.customer_id'], name=op.f('fk_mall_exchanges_customer_id_members'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['entry_id'], ['point_entries.id'], name=op.f('fk_mall_exchanges_entry_id_point_entries')),
    sa.ForeignKeyConstraint(['item_id'], ['mall_items.id'], name=op.f('fk_mall_exchanges_item_id_mall_items')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mall_exchanges')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_mall_exchanges_idempotency_key'))
    )
    with op.batch_alter_table('mall_exchanges', schema=None) as batch_op:
        batch_op.create_index('ix_mall_exchanges_item_id_customer_id', ['item_id', 'customer_id'], unique=False)

    op.create_table('point_allocations',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('entry_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('lot_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('amount', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['entry_id'], ['point_entries.id'], name=op.f('fk_point_allocations_entry_id_point_entries'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['lot_id'], ['point_entries.id'], name=op.f('fk_point_allocations_lot_id_point_entries'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_point_allocations'))
    )
    with op.batch_alter_table('point_allocations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_point_allocations_entry_id'), ['entry_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_point_allocations_lot_id'), ['lot_id'], unique=False)

    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('points_used', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('refunded_amount', sa.Numeric(precision=12, scale=2), server_default='0', nullable=False))



def downgrade() -> None:
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_column('refunded_amount')
        batch_op.drop_column('points_used')

    with op.batch_alter_table('point_allocations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_point_allocations_lot_id'))
        batch_op.drop_index(batch_op.f('ix_point_allocations_entry_id'))

    op.drop_table('point_allocations')
    with op.batch_alter_table('mall_exchanges', schema=None) as batch_op:
        batch_op.drop_index('ix_mall_exchanges_item_id_customer_id')

    op.drop_table('mall_exchanges')
    with op.batch_alter_table('point_entries', schema=None) as batch_op:
        batch_op.drop_index('ix_point_entries_source')
        batch_op.drop_index('ix_point_entries_open_lots', postgresql_where=sa.text('remaining > 0'), sqlite_where=sa.text('remaining > 0'))
        batch_op.drop_index('ix_point_entries_expiring', postgresql_where=sa.text('remaining > 0'), sqlite_where=sa.text('remaining > 0'))
        batch_op.drop_index('ix_point_entries_customer_id_id')

    op.drop_table('point_entries')
    with op.batch_alter_table('order_refunds', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_order_refunds_order_id'))

    op.drop_table('order_refunds')
    with op.batch_alter_table('member_checkins', schema=None) as batch_op:
        batch_op.drop_index('ix_member_checkins_day')

    op.drop_table('member_checkins')
    with op.batch_alter_table('growth_entries', schema=None) as batch_op:
        batch_op.drop_index('ix_growth_entries_customer_id_created_at')

    op.drop_table('growth_entries')
    with op.batch_alter_table('members', schema=None) as batch_op:
        batch_op.drop_index('ix_members_level_id')
        batch_op.drop_index('ix_members_joined_at')

    op.drop_table('members')
    op.drop_table('mall_items')
    with op.batch_alter_table('sms_codes', schema=None) as batch_op:
        batch_op.drop_index('ix_sms_codes_phone_created_at')

    op.drop_table('sms_codes')
    op.drop_table('member_levels')
