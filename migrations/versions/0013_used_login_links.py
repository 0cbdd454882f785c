"""A guide's sign-in links once used, in the database instead of only in Redis

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06
"""

from alembic import op
import sqlalchemy as sa


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('used_login_links',
    sa.Column('nonce', sa.String(length=32), nullable=False),
    sa.Column('guide_code', sa.String(length=32), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('nonce', name=op.f('pk_used_login_links'))
    )


def downgrade() -> None:
    op.drop_table('used_login_links')
