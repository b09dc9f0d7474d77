"""add accounts.plan

Revision ID: b2
Revises: a1
"""

from alembic import op

revision = "b2"
down_revision = "a1"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE accounts ADD COLUMN plan text")


def downgrade() -> None:
    op.execute("ALTER TABLE accounts DROP COLUMN plan")
