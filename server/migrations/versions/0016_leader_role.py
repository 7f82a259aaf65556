"""accounts: the leader role (领导), who holds key and repeat cases (包案)

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-05 05:55:00
"""
from contextlib import contextmanager

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

OLD = "role IN ('inspector', 'revisit', 'reviewer', 'admin')"
NEW = "role IN ('inspector', 'revisit', 'reviewer', 'admin', 'leader')"


@contextmanager
def _foreign_keys_off():
    """SQLite alters a table by rebuilding it; with foreign keys enforced, dropping the old
    users table would delete (ON DELETE CASCADE) every session and unit membership."""
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        op.execute("PRAGMA foreign_keys=OFF")
    try:
        yield
    finally:
        if sqlite:
            op.execute("PRAGMA foreign_keys=ON")


def _check(condition: str, before: str | None = None) -> None:
    with _foreign_keys_off():
        if before:  # after the pragma: SQLite ignores it once a write began a transaction
            op.execute(before)
        with op.batch_alter_table("users") as batch:
            batch.drop_constraint(op.f("ck_users_role"), type_="check")
            batch.create_check_constraint(op.f("ck_users_role"), condition)


def upgrade():
    _check(NEW)


def downgrade():
    # No leader below this revision: a leader's account is kept, disabled, as a reviewer's
    # (an admin decides who they become), never silently given the office's rights.
    _check(OLD, "UPDATE users SET role = 'reviewer', active = false WHERE role = 'leader'")
