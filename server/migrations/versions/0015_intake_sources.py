"""intake: the hotline platforms cases come from, and each case's source

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05 05:45:00

A source keeps its sheets' column mapping and its value tables. A case remembers the
platform it came from, and a platform's reference is unique within that platform: a
re-sent sheet row or a replayed push finds the case it made. The three platforms every
district has are there from the start; an admin adds others.
"""
from contextlib import contextmanager
from datetime import UTC, datetime

from alembic import op
import sqlalchemy as sa

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

DEFAULT_SOURCES = (
    ("00000000-0000-4000-8000-000000012345", "hotline_12345", "12345政务服务便民热线",
     "12345 government hotline", "hotline_12345"),
    ("00000000-0000-4000-8000-000000012369", "hotline_12369", "12369环保举报热线",
     "12369 environmental hotline", "hotline_12369"),
    ("00000000-0000-4000-8000-0000000000a1", "petition", "信访信息系统",
     "Petition (xinfang) system", "letter"),
)


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
    sources = op.create_table(
        "intake_sources",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("code", sa.String(40), nullable=False),
        sa.Column("name_zh", sa.String(120), nullable=False),
        sa.Column("name_en", sa.String(120), nullable=False),
        sa.Column("channel", sa.String(40), nullable=False),
        sa.Column("default_unit_id", sa.String(36),
                  sa.ForeignKey("units.id", name=op.f("fk_intake_sources_default_unit_id_units"))),
        sa.Column("column_map", sa.JSON, nullable=False),
        sa.Column("value_maps", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("code", name=op.f("uq_intake_sources_code")),
    )
    with _foreign_keys_off():
        with op.batch_alter_table("cases") as batch:
            batch.add_column(sa.Column("intake_source", sa.String(40)))
            batch.create_index("ux_cases_intake_ref", ["intake_source", "external_ref"],
                               unique=True)
    # After the rebuild: SQLite ignores the pragma once a write began a transaction.
    now = datetime.now(UTC)
    op.bulk_insert(sources, [
        {"id": id_, "code": code, "name_zh": zh, "name_en": en, "channel": channel,
         "default_unit_id": None, "column_map": {}, "value_maps": {},
         "created_at": now, "updated_at": now}
        for id_, code, zh, en, channel in DEFAULT_SOURCES])


def downgrade():
    with _foreign_keys_off():
        with op.batch_alter_table("cases") as batch:
            batch.drop_index("ux_cases_intake_ref")
            batch.drop_column("intake_source")
    op.drop_table("intake_sources")
