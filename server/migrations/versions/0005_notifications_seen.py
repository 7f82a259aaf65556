"""notifications seen: each user's mark of the newest notification they have seen

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 09:00:00

"""
from alembic import op
import sqlalchemy as sa

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade():
    # A nullable column is added in place on SQLite too: no table rebuild.
    op.add_column("users", sa.Column("notifications_seen_at", sa.DateTime(timezone=True),
                                     nullable=True))


def downgrade():
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        op.execute("PRAGMA foreign_keys=OFF")  # the table is rebuilt without the column
    with op.batch_alter_table("users") as batch:
        batch.drop_column("notifications_seen_at")
    if sqlite:
        op.execute("PRAGMA foreign_keys=ON")
