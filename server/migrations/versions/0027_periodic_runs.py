"""periodic_runs: each run of the sweep and the reconciler (when, where, ok, its counts),
for /metrics and the "has not run" alert

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-05 11:40:00

A new table only.
"""
import sqlalchemy as sa
from alembic import op

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "periodic_runs",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(40), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column("ok", sa.Boolean),
        sa.Column("result", sa.JSON),
        sa.Column("node", sa.String(200), nullable=False),
    )
    op.create_index("ix_periodic_runs_name_finished_at", "periodic_runs",
                    ["name", "finished_at"])
    op.create_index("ix_periodic_runs_name_started_at", "periodic_runs",
                    ["name", "started_at"])


def downgrade():
    op.drop_index("ix_periodic_runs_name_started_at", table_name="periodic_runs")
    op.drop_index("ix_periodic_runs_name_finished_at", table_name="periodic_runs")
    op.drop_table("periodic_runs")
