"""hard cases (seed 000): the office's difficult flag (重点疑难) on cases, remediation plans
(整治方案) and leader groups (包案小组)

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-05 09:00:00

Repeat and backlog cases are hard by what is recorded already (a listed repeat subject,
a due date long past); only the difficult flag is new on cases. A group's lead is the
case's leader in charge (cases.leader_id): the members table holds the others.
"""
from contextlib import contextmanager

from alembic import op
import sqlalchemy as sa

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


@contextmanager
def _foreign_keys_off():
    """SQLite alters a table by rebuilding it; with foreign keys enforced, dropping the old
    cases table would delete (ON DELETE CASCADE) every case's children."""
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        op.execute("PRAGMA foreign_keys=OFF")
    try:
        yield
    finally:
        if sqlite:
            op.execute("PRAGMA foreign_keys=ON")


def upgrade():
    with _foreign_keys_off():
        with op.batch_alter_table("cases") as batch:
            batch.add_column(sa.Column("hard_flagged_at", sa.DateTime(timezone=True)))
            batch.add_column(sa.Column("hard_flagged_by", sa.String(36)))
            batch.add_column(sa.Column("hard_reason", sa.Text))
            batch.create_foreign_key(batch.f("fk_cases_hard_flagged_by_users"), "users",
                                     ["hard_flagged_by"], ["id"])
            batch.create_index(batch.f("ix_cases_hard_flagged_at"), ["hard_flagged_at"])
    op.create_table(
        "remediation_plans",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("case_id", sa.String(36),
                  sa.ForeignKey("cases.id", ondelete="CASCADE",
                                name=op.f("fk_remediation_plans_case_id_cases")),
                  nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("approach", sa.Text, nullable=False),
        sa.Column("responsible_ids", sa.JSON, nullable=False),
        sa.Column("responsible_text", sa.Text, nullable=False),
        sa.Column("deadline", sa.Date, nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("closing_note", sa.Text, nullable=False),
        sa.Column("created_by", sa.String(36),
                  sa.ForeignKey("users.id", name=op.f("fk_remediation_plans_created_by_users"))),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(36),
                  sa.ForeignKey("users.id", name=op.f("fk_remediation_plans_updated_by_users"))),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("case_id", name=op.f("uq_remediation_plans_case_id")),
        sa.CheckConstraint("status IN ('open', 'done')",
                           name=op.f("ck_remediation_plans_status")),
    )
    op.create_table(
        "case_group_members",
        sa.Column("case_id", sa.String(36),
                  sa.ForeignKey("cases.id", ondelete="CASCADE",
                                name=op.f("fk_case_group_members_case_id_cases")),
                  primary_key=True),
        sa.Column("user_id", sa.String(36),
                  sa.ForeignKey("users.id", name=op.f("fk_case_group_members_user_id_users")),
                  primary_key=True),
        sa.Column("added_by", sa.String(36),
                  sa.ForeignKey("users.id", name=op.f("fk_case_group_members_added_by_users"))),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(op.f("ix_case_group_members_user_id"), "case_group_members", ["user_id"])


def downgrade():
    with _foreign_keys_off():
        op.drop_table("case_group_members")
        op.drop_table("remediation_plans")
        with op.batch_alter_table("cases") as batch:
            batch.drop_index(batch.f("ix_cases_hard_flagged_at"))
            batch.drop_constraint(batch.f("fk_cases_hard_flagged_by_users"), type_="foreignkey")
            batch.drop_column("hard_reason")
            batch.drop_column("hard_flagged_by")
            batch.drop_column("hard_flagged_at")
