"""intake: the platforms' tokens for the push API, stored hashed

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-05 06:00:00

A platform that calls out (POST /api/intake/<source>) shows a token an admin made for its
source. Only the token's SHA-256 is kept, with its first characters to tell tokens apart;
a revoked token stays, with who revoked it and when.
"""
from alembic import op
import sqlalchemy as sa

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "intake_tokens",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("source_id", sa.String(36),
                  sa.ForeignKey("intake_sources.id", ondelete="CASCADE",
                                name=op.f("fk_intake_tokens_source_id_intake_sources")),
                  nullable=False),
        sa.Column("label", sa.String(120), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("prefix", sa.String(8), nullable=False),
        sa.Column("created_by", sa.String(36),
                  sa.ForeignKey("users.id", name=op.f("fk_intake_tokens_created_by_users"))),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
        sa.Column("revoked_by", sa.String(36),
                  sa.ForeignKey("users.id", name=op.f("fk_intake_tokens_revoked_by_users"))),
        sa.Column("last_used_at", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("token_hash", name=op.f("uq_intake_tokens_token_hash")),
    )
    op.create_index(op.f("ix_intake_tokens_source_id"), "intake_tokens", ["source_id"])


def downgrade():
    op.drop_index(op.f("ix_intake_tokens_source_id"), table_name="intake_tokens")
    op.drop_table("intake_tokens")
