"""repeats: repeat-complaint subjects and each case's link, the cases' address key and grid
cell that find earlier complaints about the same place

Revision ID: 0019
Revises: 0016
Create Date: 2026-12-05 06:00:00

The new columns are empty for existing cases: `fieldcase migrate` (or `fieldcase
index-addresses`) fills them (the key needs Python: cpca and our rules).
"""
from contextlib import contextmanager

from alembic import op
import sqlalchemy as sa

revision = "0019"
down_revision = "0016"
branch_labels = None
depends_on = None


@contextmanager
def _foreign_keys_off():
    """SQLite drops a column by rebuilding the table; with foreign keys enforced, dropping
    the old cases table would delete (ON DELETE CASCADE) every row that refers to it."""
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        op.execute("PRAGMA foreign_keys=OFF")
    try:
        yield
    finally:
        if sqlite:
            op.execute("PRAGMA foreign_keys=ON")


def upgrade():
    # Plain ADD COLUMN: nullable columns without constraints need no table rebuild.
    op.add_column("cases", sa.Column("address_key", sa.String(200)))
    op.add_column("cases", sa.Column("geo_cell", sa.BigInteger))
    op.create_index("ix_cases_address_key", "cases", ["address_key", "category", "received_at"])
    op.create_index("ix_cases_geo_cell", "cases", ["geo_cell", "received_at"])
    op.create_table(
        "repeat_subjects",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("title", sa.String(500), nullable=False),
        sa.Column("address_key", sa.String(200)),
        sa.Column("category", sa.String(40), nullable=False),
        sa.Column("first_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("listed_at", sa.DateTime(timezone=True)),
        sa.Column("leader_id", sa.String(36),
                  sa.ForeignKey("users.id", name=op.f("fk_repeat_subjects_leader_id_users"))),
        sa.Column("resolved_at", sa.DateTime(timezone=True)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(op.f("ix_repeat_subjects_address_key"), "repeat_subjects", ["address_key"])
    op.create_index(op.f("ix_repeat_subjects_listed_at"), "repeat_subjects", ["listed_at"])
    op.create_table(
        "repeat_links",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("case_id", sa.String(36),
                  sa.ForeignKey("cases.id", ondelete="CASCADE",
                                name=op.f("fk_repeat_links_case_id_cases")), nullable=False),
        sa.Column("subject_id", sa.String(36),
                  sa.ForeignKey("repeat_subjects.id", ondelete="CASCADE",
                                name=op.f("fk_repeat_links_subject_id_repeat_subjects")),
                  nullable=False),
        sa.Column("matched_by", sa.JSON, nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("decided_by", sa.String(36),
                  sa.ForeignKey("users.id", name=op.f("fk_repeat_links_decided_by_users"))),
        sa.Column("decided_at", sa.DateTime(timezone=True)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("case_id", name=op.f("uq_repeat_links_case_id")),
        sa.CheckConstraint("state IN ('auto', 'confirmed', 'undone')",
                           name=op.f("ck_repeat_links_state")),
    )
    op.create_index(op.f("ix_repeat_links_subject_id"), "repeat_links", ["subject_id"])


def downgrade():
    with _foreign_keys_off():
        op.drop_table("repeat_links")
        op.drop_table("repeat_subjects")
        op.drop_index("ix_cases_geo_cell", "cases")
        op.drop_index("ix_cases_address_key", "cases")
        with op.batch_alter_table("cases") as batch:
            batch.drop_column("geo_cell")
            batch.drop_column("address_key")
