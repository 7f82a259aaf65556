"""seals of closed cases, closure files, a short code per evidence item

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 20:30:00

"""
import secrets

from alembic import op
import sqlalchemy as sa

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # as server/domain/shortcodes.py, frozen here


def _code() -> str:
    chars = "".join(secrets.choice(_ALPHABET) for _ in range(8))
    return f"{chars[:4]}-{chars[4:]}"


def upgrade():
    op.create_table(
        "seals",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("case_id", sa.String(36), sa.ForeignKey("cases.id", name=op.f(
            "fk_seals_case_id_cases")), nullable=False),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("manifest", sa.Text, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("object_key", sa.String(200), nullable=False),
        sa.Column("sealed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sealed_by", sa.String(36), sa.ForeignKey("users.id", name=op.f(
            "fk_seals_sealed_by_users")), nullable=False),
        sa.Column("event_seq", sa.Integer, nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True)),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_seals")),
        sa.UniqueConstraint("case_id", "number", name=op.f("uq_seals_case_id_number")),
    )
    op.create_index(op.f("ix_seals_case_id"), "seals", ["case_id"])
    op.create_table(
        "closure_files",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("public", sa.Boolean, nullable=False),
        sa.Column("case_ids", sa.JSON, nullable=False),
        sa.Column("seal_ids", sa.JSON, nullable=False),
        sa.Column("object_key", sa.String(200), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(36), sa.ForeignKey("users.id", name=op.f(
            "fk_closure_files_created_by_users")), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_closure_files")),
        sa.UniqueConstraint("key", name=op.f("uq_closure_files_key")),
    )
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        op.execute("PRAGMA foreign_keys=OFF")  # the table is rebuilt for its new key
    with op.batch_alter_table("evidence") as batch:
        batch.add_column(sa.Column("short_code", sa.String(9)))
    # Every existing item gets its code (a retry on the rare collision).
    evidence = sa.table("evidence", sa.column("id", sa.String), sa.column("short_code", sa.String))
    conn = op.get_bind()
    ids = [row.id for row in conn.execute(sa.select(evidence.c.id))]
    used: set[str] = set()
    for evidence_id in ids:
        code = _code()
        while code in used:
            code = _code()
        used.add(code)
        conn.execute(evidence.update().where(evidence.c.id == evidence_id)
                     .values(short_code=code))
    with op.batch_alter_table("evidence") as batch:
        batch.create_unique_constraint(op.f("uq_evidence_short_code"), ["short_code"])
    if sqlite:
        op.execute("PRAGMA foreign_keys=ON")


def downgrade():
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        op.execute("PRAGMA foreign_keys=OFF")
    with op.batch_alter_table("evidence") as batch:
        batch.drop_constraint(op.f("uq_evidence_short_code"), type_="unique")
        batch.drop_column("short_code")
    if sqlite:
        op.execute("PRAGMA foreign_keys=ON")
    op.drop_table("closure_files")
    op.drop_index(op.f("ix_seals_case_id"), table_name="seals")
    op.drop_table("seals")
