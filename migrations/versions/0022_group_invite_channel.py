"""campaign channel work_group_invite (标签拉群): campaigns' and deliveries' channel columns
widen from 16 to 24 characters (the channel's name has 17). PostgreSQL: ALTER COLUMN … TYPE;
SQLite: the tables are rebuilt in batch mode.

Revision ID: 0022
Revises: 0018
Create Date: 2026-12-07
"""

from alembic import op
import sqlalchemy as sa


revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table, nullable in (('campaigns', False), ('deliveries', True)):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column('channel', existing_type=sa.String(length=16), type_=sa.String(length=24),
                                  existing_nullable=nullable)


def downgrade() -> None:
    op.execute("UPDATE deliveries SET channel = NULL WHERE channel = 'work_group_invite'")
    op.execute("DELETE FROM campaigns WHERE channel = 'work_group_invite'")
    for table, nullable in (('campaigns', False), ('deliveries', True)):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column('channel', existing_type=sa.String(length=24), type_=sa.String(length=16),
                                  existing_nullable=nullable)
