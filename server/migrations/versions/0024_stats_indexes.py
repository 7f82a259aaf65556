"""ledgers: what the rates read from indexes alone: the cases' copy of their closing
approval's on-time verdict and of when a revisit first reached someone, and an index of
what the rates count by; the status events by kind and time; revisits with an answer

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-05 09:00:00

`closed_on_time` is filled for the cases closed now from their last approval event: an
approval from before its event carried `on_time` leaves it null (counted as "no deadline
recorded", outside the on-time rate's denominator). `revisit_reached_at` from the
revisits that reached someone.
"""
import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None

ANSWERED = "satisfaction IS NOT NULL"


def upgrade():
    # Plain ADD COLUMN: a nullable column without constraints needs no table rebuild.
    op.add_column("cases", sa.Column("closed_on_time", sa.Boolean))
    op.add_column("cases", sa.Column("revisit_reached_at", sa.DateTime(timezone=True)))
    verdict = ("(e.data ->> 'on_time')::boolean" if op.get_bind().dialect.name == "postgresql"
               else "json_extract(e.data, '$.on_time')")
    op.execute(f"""
        UPDATE cases SET closed_on_time = (
          SELECT {verdict} FROM case_events e
          WHERE e.case_id = cases.id AND e.kind = 'approved' ORDER BY e.seq DESC LIMIT 1)
        WHERE status = 'closed'""")
    op.execute("""
        UPDATE cases SET revisit_reached_at = (
          SELECT min(r.received_at) FROM revisits r
          WHERE r.case_id = cases.id AND r.outcome = 'reached')""")
    op.create_index("ix_cases_stats", "cases", ["received_at", "unit_id", "status",
                                                "closed_on_time", "revisit_reached_at",
                                                "channel", "category", "id"])
    op.create_index("ix_case_events_kind_at", "case_events", ["kind", "at", "case_id"])
    op.create_index("ix_revisits_answered", "revisits",
                    ["case_id", "received_at", "satisfaction"],
                    postgresql_where=sa.text(ANSWERED), sqlite_where=sa.text(ANSWERED))


def downgrade():
    op.drop_index("ix_revisits_answered", table_name="revisits")
    op.drop_index("ix_case_events_kind_at", table_name="case_events")
    op.drop_index("ix_cases_stats", table_name="cases")
    # SQLite drops a column by rebuilding the table: with foreign keys enforced, dropping
    # the old cases table would delete (ON DELETE CASCADE) every row that refers to it.
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        op.execute("PRAGMA foreign_keys=OFF")
    try:
        with op.batch_alter_table("cases") as batch:
            batch.drop_column("revisit_reached_at")
            batch.drop_column("closed_on_time")
    finally:
        if sqlite:
            op.execute("PRAGMA foreign_keys=ON")
