"""a webhook belongs to a unit; its secret is stored encrypted

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 23:45:00

Existing webhooks go to the top unit (one with no parent: they were the district's). The
encryption key (WEBHOOK_SECRET_KEY) is not the database's to know, so a migration cannot
encrypt: an existing plain secret moves to `legacy_secret`, and the next sweep seals it
into `secret_sealed` and empties it (server.domain.cases.webhooks.seal_legacy_secrets). New
webhooks never have a plain secret.
"""
from alembic import op
import sqlalchemy as sa

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade():
    conn = op.get_bind()
    sqlite = conn.dialect.name == "sqlite"
    if sqlite:
        op.execute("PRAGMA foreign_keys=OFF")  # rebuilt: its deliveries must stay
    with op.batch_alter_table("webhooks") as batch:
        batch.add_column(sa.Column("unit_id", sa.String(36)))
        batch.add_column(sa.Column("secret_sealed", sa.String(300)))
        batch.alter_column("secret", new_column_name="legacy_secret",
                           existing_type=sa.String(200), nullable=True)
    units = sa.table("units", sa.column("id", sa.String), sa.column("parent_id", sa.String),
                     sa.column("created_at", sa.DateTime))
    hooks = sa.table("webhooks", sa.column("unit_id", sa.String))
    top = conn.execute(sa.select(units.c.id).where(units.c.parent_id.is_(None))
                       .order_by(units.c.created_at, units.c.id).limit(1)).scalar()
    if top is not None:
        conn.execute(hooks.update().values(unit_id=top))
    elif conn.execute(sa.select(sa.func.count()).select_from(hooks)).scalar():
        raise RuntimeError("webhooks exist but no unit does: create the top unit "
                           "(fieldcase create-unit) and upgrade again")
    with op.batch_alter_table("webhooks") as batch:
        batch.alter_column("unit_id", existing_type=sa.String(36), nullable=False)
        batch.create_foreign_key(op.f("fk_webhooks_unit_id_units"), "units", ["unit_id"],
                                 ["id"])
        batch.create_index(op.f("ix_webhooks_unit_id"), ["unit_id"])
    if sqlite:
        op.execute("PRAGMA foreign_keys=ON")


def downgrade():
    # Sealed secrets cannot be decrypted here (no key): those rows keep an empty secret
    # and must be added again after a downgrade.
    conn = op.get_bind()
    sqlite = conn.dialect.name == "sqlite"
    if sqlite:
        op.execute("PRAGMA foreign_keys=OFF")
    hooks = sa.table("webhooks", sa.column("legacy_secret", sa.String))
    conn.execute(hooks.update().where(hooks.c.legacy_secret.is_(None)).values(legacy_secret=""))
    with op.batch_alter_table("webhooks") as batch:
        batch.drop_index(op.f("ix_webhooks_unit_id"))
        batch.drop_constraint(op.f("fk_webhooks_unit_id_units"), type_="foreignkey")
        batch.drop_column("unit_id")
        batch.drop_column("secret_sealed")
        batch.alter_column("legacy_secret", new_column_name="secret",
                           existing_type=sa.String(200), nullable=False)
    if sqlite:
        op.execute("PRAGMA foreign_keys=ON")
