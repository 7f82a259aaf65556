"""accounts hardening: per-account login throttle, session idle time and origin, quota index

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 09:40:00

"""
from alembic import op
import sqlalchemy as sa

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "login_throttle",
        sa.Column("username", sa.String(80), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("first_failed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_address", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("username", name=op.f("pk_login_throttle")),
    )
    # Nullable columns are added in place, on SQLite too (no table rebuild).
    op.add_column("user_sessions", sa.Column("last_seen_at", sa.DateTime(timezone=True),
                                             nullable=True))
    op.add_column("user_sessions", sa.Column("address", sa.String(64), nullable=True))
    op.add_column("user_sessions", sa.Column("user_agent", sa.String(300), nullable=True))
    op.create_index("ix_evidence_uploaded_by_declared_at", "evidence",
                    ["uploaded_by", "declared_at"])


def downgrade():
    op.drop_index("ix_evidence_uploaded_by_declared_at", table_name="evidence")
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        op.execute("PRAGMA foreign_keys=OFF")  # the table is rebuilt without the columns
    with op.batch_alter_table("user_sessions") as batch:
        batch.drop_column("user_agent")
        batch.drop_column("address")
        batch.drop_column("last_seen_at")
    if sqlite:
        op.execute("PRAGMA foreign_keys=ON")
    op.drop_table("login_throttle")
