"""create accounts

Revision ID: a1
Revises:
"""

from alembic import op

revision = "a1"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE TABLE accounts (id bigserial PRIMARY KEY, email text NOT NULL)")
    op.execute("INSERT INTO accounts (email) SELECT 'a' || g || '@example.com' FROM generate_series(1, 20) g")


def downgrade() -> None:
    op.execute("DROP TABLE accounts")
