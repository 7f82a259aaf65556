"""evidence: the daily quota's index carries the size, so a user's bytes today are summed
from the index alone (with (uploaded_by, declared_at) each of the day's rows was read from
the table too: the most work of a photo's declaration for a busy phone)

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-06 03:00:00

An index only: (uploaded_by, declared_at, size) replaces (uploaded_by, declared_at), which
it serves as well.
"""
from alembic import op

revision = "0030"
down_revision = "0029"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_evidence_uploaded_by_declared_at_size", "evidence",
                    ["uploaded_by", "declared_at", "size"])
    op.drop_index("ix_evidence_uploaded_by_declared_at", table_name="evidence")


def downgrade():
    op.create_index("ix_evidence_uploaded_by_declared_at", "evidence",
                    ["uploaded_by", "declared_at"])
    op.drop_index("ix_evidence_uploaded_by_declared_at_size", table_name="evidence")
