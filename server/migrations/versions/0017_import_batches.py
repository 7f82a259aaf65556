"""intake: sheets between their preview and their confirmation

Revision ID: 0017
Revises: 0019
Create Date: 2026-12-05 06:00:00

An uploaded sheet's cells are kept (not its bytes) so its preview can be evaluated again
as the office maps the source's categories and units, and a confirmed batch keeps its
answer: confirming twice returns it.
"""
from alembic import op
import sqlalchemy as sa

revision = "0017"
down_revision = "0019"  # after repeats (merged into this branch); the lead renumbers
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "import_batches",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("source", sa.String(40), nullable=False),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("created_by", sa.String(36),
                  sa.ForeignKey("users.id", name=op.f("fk_import_batches_created_by_users")),
                  nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("header_row", sa.Integer, nullable=False),
        sa.Column("headers", sa.JSON, nullable=False),
        sa.Column("rows", sa.JSON, nullable=False),
        sa.Column("counts", sa.JSON, nullable=False),
        sa.Column("result", sa.JSON),
        sa.Column("confirmed_at", sa.DateTime(timezone=True)),
    )
    op.create_index(op.f("ix_import_batches_source"), "import_batches", ["source"])


def downgrade():
    op.drop_index(op.f("ix_import_batches_source"), "import_batches")
    op.drop_table("import_batches")
