"""ledgers: the rates as of a past moment without a scan of the event log: when each
case's closure last changed and its latest revisit answer kept on the case, in a narrow
covering index of what the rates read; the status events by case and time (replaces
ix_case_events_kind_at)

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-05 09:40:00

`closure_changed_at` is filled from the last approval, reopen or dissatisfied-revisit
event; `last_answer` (received time in whole seconds * 4 + answer code: satisfied 0,
basically satisfied 1, dissatisfied 2) and `last_answer_at` from the answered revisits.
"""
import sqlalchemy as sa
from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None

STATUS_KINDS = "('approved', 'reopened', 'revisit_dissatisfied')"
STATUS = f"kind IN {STATUS_KINDS}"
CODE = ("CASE r.satisfaction WHEN 'satisfied' THEN 0 WHEN 'basically_satisfied' THEN 1 "
        "WHEN 'dissatisfied' THEN 2 ELSE 3 END")


def upgrade():
    op.add_column("cases", sa.Column("closure_changed_at", sa.DateTime(timezone=True)))
    op.add_column("cases", sa.Column("last_answer", sa.BigInteger))
    op.add_column("cases", sa.Column("last_answer_at", sa.DateTime(timezone=True)))
    # The same packing as ledgers.stats / revisits.answers, as SQLAlchemy writes it.
    epoch = ("CAST(EXTRACT(epoch FROM r.received_at) AS BIGINT)"
             if op.get_bind().dialect.name == "postgresql"
             else "CAST(CAST(STRFTIME('%s', r.received_at) AS INTEGER) AS BIGINT)")
    op.execute(f"""
        UPDATE cases SET closure_changed_at = (
          SELECT max(e.at) FROM case_events e
          WHERE e.case_id = cases.id AND e.kind IN {STATUS_KINDS})""")
    op.execute(f"""
        UPDATE cases SET
          last_answer = (SELECT max({epoch} * 4 + {CODE}) FROM revisits r
                         WHERE r.case_id = cases.id AND r.satisfaction IS NOT NULL),
          last_answer_at = (SELECT max(r.received_at) FROM revisits r
                            WHERE r.case_id = cases.id AND r.satisfaction IS NOT NULL)""")
    op.drop_index("ix_case_events_kind_at", table_name="case_events")
    op.create_index("ix_case_events_status", "case_events", ["case_id", "at", "seq"],
                    postgresql_where=sa.text(STATUS), sqlite_where=sa.text(STATUS))
    op.create_index("ix_cases_rates", "cases", [
        "received_at", "status", "closed_on_time", "closure_changed_at", "revisit_reached_at",
        "last_answer", "last_answer_at", "id"])


def downgrade():
    op.drop_index("ix_cases_rates", table_name="cases")
    op.drop_index("ix_case_events_status", table_name="case_events")
    op.create_index("ix_case_events_kind_at", "case_events", ["kind", "at", "case_id"])
    # SQLite drops a column by rebuilding the table: with foreign keys enforced, dropping
    # the old cases table would delete (ON DELETE CASCADE) every row that refers to it.
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        op.execute("PRAGMA foreign_keys=OFF")
    try:
        with op.batch_alter_table("cases") as batch:
            batch.drop_column("last_answer_at")
            batch.drop_column("last_answer")
            batch.drop_column("closure_changed_at")
    finally:
        if sqlite:
            op.execute("PRAGMA foreign_keys=ON")
