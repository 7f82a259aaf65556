"""cases: a keyed hash of the complainant's number, indexed, to find a case by a caller's number

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05 02:30:00

The hash is an HMAC under PERSONAL_DATA_KEY, which is not the database's to know, so a
migration cannot compute it: existing cases keep a null until `fieldcase index-phones`
(also run by `fieldcase migrate`) fills it. Until then an old case is found by its other
fields, never wrongly by its number.
"""
from alembic import op
import sqlalchemy as sa

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("complainant_phone_hmac", sa.String(64), nullable=True))
        batch.create_index(batch.f("ix_cases_complainant_phone_hmac"),
                           ["complainant_phone_hmac"])


def downgrade():
    conn = op.get_bind()
    sqlite = conn.dialect.name == "sqlite"
    if sqlite:
        op.execute("PRAGMA foreign_keys=OFF")  # rebuilt: its children must stay
    with op.batch_alter_table("cases") as batch:
        batch.drop_index(batch.f("ix_cases_complainant_phone_hmac"))
        batch.drop_column("complainant_phone_hmac")
    if sqlite:
        op.execute("PRAGMA foreign_keys=ON")
