"""measurements: the full noise record (GB 22337-2008 / GB 12523-2011) and its frozen judgement

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-09 10:00:00

Every column is nullable: a reading recorded before this revision is a one-figure
("simple") reading, presented as such, and is not rewritten.
"""
from alembic import op
import sqlalchemy as sa

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("measurements", schema=None) as batch_op:
        # "simple" | "full"; null on rows older than this revision (shown as "simple").
        batch_op.add_column(sa.Column("record_kind", sa.String(length=8), nullable=True))
        # The instrument, calibration, position, windows, weather, duration, noise type.
        batch_op.add_column(sa.Column("record_data", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("lmax_dba", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("background_dba", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("background_correction_db", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("corrected_dba", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("valid_for_enforcement", sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column("invalid_reasons", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("verdict", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("verdict_rule", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("rules_version", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("meter_photo_client_id", sa.String(length=36),
                                      nullable=True))
        batch_op.create_index(batch_op.f("ix_measurements_meter_photo_client_id"),
                              ["meter_photo_client_id"], unique=False)


def downgrade():
    with op.batch_alter_table("measurements", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_measurements_meter_photo_client_id"))
        batch_op.drop_column("meter_photo_client_id")
        batch_op.drop_column("rules_version")
        batch_op.drop_column("verdict_rule")
        batch_op.drop_column("verdict")
        batch_op.drop_column("invalid_reasons")
        batch_op.drop_column("valid_for_enforcement")
        batch_op.drop_column("corrected_dba")
        batch_op.drop_column("background_correction_db")
        batch_op.drop_column("background_dba")
        batch_op.drop_column("lmax_dba")
        batch_op.drop_column("record_data")
        batch_op.drop_column("record_kind")
