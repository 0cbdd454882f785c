"""coupons: templates, coupons, per-customer holdings, issuing rules, the redemption audit log, reminders

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-22
"""

from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('coupon_templates',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('amount', sa.Numeric(precision=12, scale=2), nullable=True),
    sa.Column('discount', sa.Numeric(precision=3, scale=1), nullable=True),
    sa.Column('gift', sa.String(length=64), nullable=True),
    sa.Column('min_spend', sa.Numeric(precision=12, scale=2), nullable=True),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('valid_from', sa.DateTime(timezone=True), nullable=True),
    sa.Column('valid_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('valid_days', sa.Integer(), nullable=True),
    sa.Column('stock', sa.Integer(), nullable=True),
    sa.Column('issued_count', sa.Integer(), server_default='0', nullable=False),
    sa.Column('per_customer_limit', sa.Integer(), nullable=True),
    sa.Column('remind_days_before', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=8), server_default='active', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_coupon_templates'))
    )
    op.create_table('coupon_holdings',
    sa.Column('template_id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('issued', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_coupon_holdings_customer_id_customers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['template_id'], ['coupon_templates.id'], name=op.f('fk_coupon_holdings_template_id_coupon_templates'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('template_id', 'customer_id', name=op.f('pk_coupon_holdings'))
    )
    op.create_table('coupon_rules',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('template_id', sa.Integer(), nullable=False),
    sa.Column('trigger', sa.String(length=16), nullable=False),
    sa.Column('min_amount', sa.Numeric(precision=12, scale=2), nullable=True),
    sa.Column('active', sa.Boolean(), server_default='1', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['template_id'], ['coupon_templates.id'], name=op.f('fk_coupon_rules_template_id_coupon_templates'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_coupon_rules'))
    )
    with op.batch_alter_table('coupon_rules', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_coupon_rules_template_id'), ['template_id'], unique=False)

    op.create_table('coupon_template_stores',
    sa.Column('template_id', sa.Integer(), nullable=False),
    sa.Column('store_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['store_id'], ['stores.id'], name=op.f('fk_coupon_template_stores_store_id_stores')),
    sa.ForeignKeyConstraint(['template_id'], ['coupon_templates.id'], name=op.f('fk_coupon_template_stores_template_id_coupon_templates'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('template_id', 'store_id', name=op.f('pk_coupon_template_stores'))
    )
    op.create_table('coupons',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('code', sa.String(length=20), nullable=True),
    sa.Column('template_id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('status', sa.String(length=10), server_default='issued', nullable=False),
    sa.Column('source', sa.String(length=10), nullable=False),
    sa.Column('source_ref', sa.String(length=64), nullable=True),
    sa.Column('issued_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('valid_from', sa.DateTime(timezone=True), nullable=False),
    sa.Column('valid_until', sa.DateTime(timezone=True), nullable=False),
    sa.Column('issued_guide_id', sa.Integer(), nullable=True),
    sa.Column('issued_store_id', sa.Integer(), nullable=True),
    sa.Column('redeemed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('redeemed_guide_id', sa.Integer(), nullable=True),
    sa.Column('redeemed_store_id', sa.Integer(), nullable=True),
    sa.Column('redeemed_user_id', sa.Integer(), nullable=True),
    sa.Column('voided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('void_reason', sa.String(length=200), nullable=True),
    sa.Column('expired_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('announce_state', sa.String(length=8), nullable=True),
    sa.Column('announced_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_coupons_customer_id_customers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['issued_guide_id'], ['guides.id'], name=op.f('fk_coupons_issued_guide_id_guides')),
    sa.ForeignKeyConstraint(['issued_store_id'], ['stores.id'], name=op.f('fk_coupons_issued_store_id_stores')),
    sa.ForeignKeyConstraint(['redeemed_guide_id'], ['guides.id'], name=op.f('fk_coupons_redeemed_guide_id_guides')),
    sa.ForeignKeyConstraint(['redeemed_store_id'], ['stores.id'], name=op.f('fk_coupons_redeemed_store_id_stores')),
    sa.ForeignKeyConstraint(['template_id'], ['coupon_templates.id'], name=op.f('fk_coupons_template_id_coupon_templates')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_coupons')),
    sa.UniqueConstraint('code', name=op.f('uq_coupons_code'))
    )
    with op.batch_alter_table('coupons', schema=None) as batch_op:
        batch_op.create_index('ix_coupons_announce', ['announce_state'], unique=False)
        batch_op.create_index('ix_coupons_customer', ['customer_id', 'status'], unique=False)
        batch_op.create_index('ix_coupons_due', ['status', 'valid_until'], unique=False)
        batch_op.create_index('ix_coupons_redeemed_at', ['redeemed_at'], unique=False)
        batch_op.create_index('ix_coupons_template_issued', ['template_id', 'issued_at'], unique=False)

    op.create_table('coupon_attempts',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('action', sa.String(length=10), nullable=False),
    sa.Column('result', sa.String(length=24), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('coupon_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('guide_id', sa.Integer(), nullable=True),
    sa.Column('store_id', sa.Integer(), nullable=True),
    sa.Column('reason', sa.String(length=200), nullable=True),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['coupon_id'], ['coupons.id'], name=op.f('fk_coupon_attempts_coupon_id_coupons'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['guide_id'], ['guides.id'], name=op.f('fk_coupon_attempts_guide_id_guides')),
    sa.ForeignKeyConstraint(['store_id'], ['stores.id'], name=op.f('fk_coupon_attempts_store_id_stores')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_coupon_attempts'))
    )
    with op.batch_alter_table('coupon_attempts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_coupon_attempts_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_coupon_attempts_coupon_id'), ['coupon_id'], unique=False)

    op.create_table('coupon_reminders',
    sa.Column('coupon_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('customer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('state', sa.String(length=10), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['coupon_id'], ['coupons.id'], name=op.f('fk_coupon_reminders_coupon_id_coupons'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_coupon_reminders_customer_id_customers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('coupon_id', name=op.f('pk_coupon_reminders'))
    )
    with op.batch_alter_table('coupon_reminders', schema=None) as batch_op:
        batch_op.create_index('ix_coupon_reminders_due', ['state', 'due_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('coupon_reminders', schema=None) as batch_op:
        batch_op.drop_index('ix_coupon_reminders_due')

    op.drop_table('coupon_reminders')
    with op.batch_alter_table('coupon_attempts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_coupon_attempts_coupon_id'))
        batch_op.drop_index(batch_op.f('ix_coupon_attempts_at'))

    op.drop_table('coupon_attempts')
    with op.batch_alter_table('coupons', schema=None) as batch_op:
        batch_op.drop_index('ix_coupons_template_issued')
        batch_op.drop_index('ix_coupons_redeemed_at')
        batch_op.drop_index('ix_coupons_due')
        batch_op.drop_index('ix_coupons_customer')
        batch_op.drop_index('ix_coupons_announce')

    op.drop_table('coupons')
    op.drop_table('coupon_template_stores')
    with op.batch_alter_table('coupon_rules', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_coupon_rules_template_id'))

    op.drop_table('coupon_rules')
    op.drop_table('coupon_holdings')
    op.drop_table('coupon_templates')
