"""cases: the leader in charge (包案领导) as a user, indexed for the board's leader filter

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-05 05:40:00

The free-text `leader` column stays: older cases keep the name typed then, shown while
`leader_id` is null.
"""
from contextlib import contextmanager

from alembic import op
import sqlalchemy as sa

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


@contextmanager
def _foreign_keys_off():
    """SQLite alters a table by rebuilding it; with foreign keys enforced, dropping the old
    cases table would delete (ON DELETE CASCADE) every case's children."""
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        op.execute("PRAGMA foreign_keys=OFF")
    try:
        yield
    finally:
        if sqlite:
            op.execute("PRAGMA foreign_keys=ON")


def upgrade():
    with _foreign_keys_off():
        with op.batch_alter_table("cases") as batch:
            batch.add_column(sa.Column("leader_id", sa.String(36), nullable=True))
            batch.create_foreign_key(batch.f("fk_cases_leader_id_users"), "users",
                                     ["leader_id"], ["id"])
            batch.create_index(batch.f("ix_cases_leader_id"), ["leader_id"])


def downgrade():
    with _foreign_keys_off():
        with op.batch_alter_table("cases") as batch:
            batch.drop_index(batch.f("ix_cases_leader_id"))
            batch.drop_constraint(batch.f("fk_cases_leader_id_users"), type_="foreignkey")
            batch.drop_column("leader_id")
