"""The funnel's scans by kind and time; segments' names unique case-insensitively

The funnel (scrm/dashboard/funnel.py) reads interactions WHERE kind IN (scan kinds) AND
occurred_at in the period: with a year of timelines the kind first, then the range. Segment
names were unique only as typed; lower(name) makes 奶粉VIP and 奶粉vip one name, as the service
already says (both backends support the expression index).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07
"""

from alembic import op
import sqlalchemy as sa


revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_interactions_kind_occurred_at', 'interactions', ['kind', 'occurred_at'], unique=False)
    op.create_index('uq_segments_lower_name', 'segments', [sa.text('lower(name)')], unique=True)


def downgrade() -> None:
    op.drop_index('uq_segments_lower_name', table_name='segments')
    op.drop_index('ix_interactions_kind_occurred_at', table_name='interactions')
