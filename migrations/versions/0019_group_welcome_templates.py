"""Group welcome templates (入群欢迎语): WeCom's template id, our name, the content

Revision ID: 0019
Revises: 0017
Create Date: 2026-12-07
"""

from alembic import op
import sqlalchemy as sa


revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('group_welcome_templates',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('template_id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('image_media_id', sa.String(length=255), nullable=True),
    sa.Column('image_pic_url', sa.String(length=1024), nullable=True),
    sa.Column('link_title', sa.String(length=128), nullable=True),
    sa.Column('link_url', sa.String(length=1024), nullable=True),
    sa.Column('link_desc', sa.String(length=512), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_group_welcome_templates')),
    sa.UniqueConstraint('template_id', name=op.f('uq_group_welcome_templates_template_id'))
    )


def downgrade() -> None:
    op.drop_table('group_welcome_templates')
