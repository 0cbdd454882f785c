"""The Official Account's custom menu, saved from the console and published with menu/create

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07
"""

from alembic import op
import sqlalchemy as sa


revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('mp_menus',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('buttons', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=16), server_default='saved', nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('saved', 'publishing', 'published', 'failed', 'superseded')",
                       name=op.f('ck_mp_menus_status_known')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mp_menus'))
    )


def downgrade() -> None:
    op.drop_table('mp_menus')
