"""case colour cache: the colour last resolved and until when it holds, for the board

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 08:50:00

"""
from datetime import datetime, timezone

from alembic import op
import sqlalchemy as sa

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

STALE = datetime(1970, 1, 1, tzinfo=timezone.utc)
FINAL = datetime(9999, 1, 1, tzinfo=timezone.utc)


def upgrade():
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        # SQLite rebuilds the table to make the column NOT NULL: the rows that point at
        # cases must not be checked while it is briefly gone (they are checked after).
        op.execute("PRAGMA foreign_keys=OFF")
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("colour", sa.String(10), nullable=True))
        batch.add_column(sa.Column("colour_until", sa.DateTime(timezone=True), nullable=True))
    # Every open case starts unresolved: its colour is computed until the next sweep
    # caches it. A closed case has no colour, for good. (SQLite keeps naive UTC, as the
    # models' UTCDateTime does.)
    when = {"stale": STALE, "final": FINAL}
    if sqlite:
        when = {k: v.replace(tzinfo=None) for k, v in when.items()}
    op.execute(sa.text(
        "UPDATE cases SET colour_until = CASE WHEN status IN "
        "('received', 'dispatched', 'in_progress', 'submitted') THEN :stale ELSE :final END"
    ).bindparams(*(sa.bindparam(k, v, type_=sa.DateTime(timezone=True))
                   for k, v in when.items())))
    with op.batch_alter_table("cases") as batch:
        batch.alter_column("colour_until", existing_type=sa.DateTime(timezone=True),
                           nullable=False)
        batch.create_index("ix_cases_colour_until", ["colour_until"])
        batch.create_index("ix_cases_colour_due_at", ["colour", "due_at"])
        batch.create_index("ix_cases_board",
                           ["status", "unit_id", "colour", "colour_until", "id"])
    if sqlite:
        op.execute("PRAGMA foreign_keys=ON")
    else:
        # Only open cases have a colour: without this PostgreSQL multiplies the two
        # selectivities, expects a handful of rows per colour and skips the ordered index.
        op.execute("CREATE STATISTICS cases_status_colour (mcv) ON status, colour FROM cases")


def downgrade():
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        op.execute("PRAGMA foreign_keys=OFF")  # as in upgrade: the table is rebuilt
    else:
        op.execute("DROP STATISTICS IF EXISTS cases_status_colour")
    with op.batch_alter_table("cases") as batch:
        batch.drop_index("ix_cases_board")
        batch.drop_index("ix_cases_colour_due_at")
        batch.drop_index("ix_cases_colour_until")
        batch.drop_column("colour_until")
        batch.drop_column("colour")
    if sqlite:
        op.execute("PRAGMA foreign_keys=ON")
