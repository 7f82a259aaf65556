"""periodic_runs: an index (name, ok, finished_at) for the scrape's "last success per
task", which filters ok IS TRUE: with (name, finished_at) alone it read every run of the
task (the sweep's ~43,000 a month) at each scrape

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-05 12:30:00

An index only.
"""
from alembic import op

revision = "0029"
down_revision = "0028"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_periodic_runs_name_ok_finished_at", "periodic_runs",
                    ["name", "ok", "finished_at"])


def downgrade():
    op.drop_index("ix_periodic_runs_name_ok_finished_at", table_name="periodic_runs")
