"""the revisit loop: callbacks and integrity flags on revisits, voided samples

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05 02:30:00

A revisit can be a call scheduled back (`callback_at`), and a door survey carries integrity
flags as photos do. A sample can be voided with a reason (its tasks go with it); the rows
stay, for the audit.
"""
from contextlib import contextmanager

from alembic import op
import sqlalchemy as sa

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


@contextmanager
def _foreign_keys_off():
    """SQLite alters a table by rebuilding it; with foreign keys enforced, dropping the old
    table would delete (ON DELETE CASCADE) or refuse for every row that refers to it."""
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
        with op.batch_alter_table("revisits") as batch:
            batch.add_column(sa.Column("callback_at", sa.DateTime(timezone=True)))
            batch.add_column(sa.Column("flags", sa.JSON))
        with op.batch_alter_table("revisit_samples") as batch:
            batch.add_column(sa.Column("voided_at", sa.DateTime(timezone=True)))
            batch.add_column(sa.Column("voided_by", sa.String(36)))
            batch.add_column(sa.Column("void_reason", sa.Text))
            batch.create_foreign_key(op.f("fk_revisit_samples_voided_by_users"), "users",
                                     ["voided_by"], ["id"])


def downgrade():
    with _foreign_keys_off():
        with op.batch_alter_table("revisit_samples") as batch:
            batch.drop_constraint(op.f("fk_revisit_samples_voided_by_users"), type_="foreignkey")
            batch.drop_column("void_reason")
            batch.drop_column("voided_by")
            batch.drop_column("voided_at")
        with op.batch_alter_table("revisits") as batch:
            batch.drop_column("flags")
            batch.drop_column("callback_at")
