"""Product codes (一物一码, SPEC §14): batches (one row however many codes), claims (one row per
claimed code, unique per batch and serial) and the scans that gave no reward

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-07
"""

from alembic import op
import sqlalchemy as sa


revision = '0024'
down_revision = '0023'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('code_batches',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('prefix', sa.String(length=5), nullable=False),
    sa.Column('product', sa.String(length=64), nullable=False),
    sa.Column('sku', sa.String(length=64), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('reward_points', sa.Integer(), nullable=True),
    sa.Column('reward_template_id', sa.Integer(), nullable=True),
    sa.Column('store_id', sa.Integer(), nullable=True),
    sa.Column('valid_until', sa.Date(), nullable=True),
    sa.Column('created_by', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('(reward_points IS NULL) <> (reward_template_id IS NULL)', name=op.f('ck_code_batches_one_reward')),
    sa.CheckConstraint('quantity > 0', name=op.f('ck_code_batches_quantity_positive')),
    sa.ForeignKeyConstraint(['reward_template_id'], ['coupon_templates.id'], name=op.f('fk_code_batches_reward_template_id_coupon_templates'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['store_id'], ['stores.id'], name=op.f('fk_code_batches_store_id_stores'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_code_batches')),
    sa.UniqueConstraint('prefix', name=op.f('uq_code_batches_prefix'))
    )
    op.create_table('product_scans',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('result', sa.String(length=24), nullable=False),
    sa.Column('batch_id', sa.Integer(), nullable=True),
    sa.Column('serial', sa.Integer(), nullable=True),
    sa.Column('customer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.ForeignKeyConstraint(['batch_id'], ['code_batches.id'], name=op.f('fk_product_scans_batch_id_code_batches'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_product_scans_customer_id_customers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_product_scans'))
    )
    with op.batch_alter_table('product_scans', schema=None) as batch_op:
        batch_op.create_index('ix_product_scans_batch_id_serial', ['batch_id', 'serial'], unique=False)
        batch_op.create_index('ix_product_scans_customer_id', ['customer_id'], unique=False)
        batch_op.create_index('ix_product_scans_day_result', ['day', 'result'], unique=False)

    op.create_table('product_claims',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('batch_id', sa.Integer(), nullable=False),
    sa.Column('serial', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('via', sa.String(length=8), nullable=False),
    sa.Column('new_follower', sa.Boolean(), nullable=False),
    sa.Column('store_id', sa.Integer(), nullable=True),
    sa.Column('guide_id', sa.Integer(), nullable=True),
    sa.Column('attribution', sa.String(length=8), nullable=False),
    sa.Column('points', sa.Integer(), nullable=True),
    sa.Column('points_pending', sa.Boolean(), nullable=False),
    sa.Column('coupon_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.ForeignKeyConstraint(['batch_id'], ['code_batches.id'], name=op.f('fk_product_claims_batch_id_code_batches'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['coupon_id'], ['coupons.id'], name=op.f('fk_product_claims_coupon_id_coupons'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_product_claims_customer_id_customers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['guide_id'], ['guides.id'], name=op.f('fk_product_claims_guide_id_guides'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['store_id'], ['stores.id'], name=op.f('fk_product_claims_store_id_stores'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_product_claims')),
    sa.UniqueConstraint('batch_id', 'serial', name=op.f('uq_product_claims_batch_id_serial'))
    )
    with op.batch_alter_table('product_claims', schema=None) as batch_op:
        batch_op.create_index('ix_product_claims_customer_id_day', ['customer_id', 'day'], unique=False)
        batch_op.create_index('ix_product_claims_day', ['day'], unique=False)
        batch_op.create_index('ix_product_claims_guide_id_day', ['guide_id', 'day'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('product_claims', schema=None) as batch_op:
        batch_op.drop_index('ix_product_claims_guide_id_day')
        batch_op.drop_index('ix_product_claims_day')
        batch_op.drop_index('ix_product_claims_customer_id_day')

    op.drop_table('product_claims')
    with op.batch_alter_table('product_scans', schema=None) as batch_op:
        batch_op.drop_index('ix_product_scans_day_result')
        batch_op.drop_index('ix_product_scans_customer_id')
        batch_op.drop_index('ix_product_scans_batch_id_serial')

    op.drop_table('product_scans')
    op.drop_table('code_batches')
