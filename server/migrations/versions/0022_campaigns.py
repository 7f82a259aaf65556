"""campaigns: look-back campaigns (回头看), their re-check tasks and rectification plans

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-05 08:40:00

New tables only. A case is held by at most one pending re-check task whichever campaign
it belongs to: a partial unique index on case_id where status = 'pending' (both databases
support partial indexes).
"""
import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

PENDING_WHERE = "status = 'pending'"


def upgrade():
    op.create_table(
        "campaigns",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("unit_id", sa.String(36),
                  sa.ForeignKey("units.id", name=op.f("fk_campaigns_unit_id_units")),
                  nullable=False),
        sa.Column("period_from", sa.Date, nullable=False),
        sa.Column("period_to", sa.Date, nullable=False),
        sa.Column("filters", sa.JSON, nullable=False),
        sa.Column("check_unit_id", sa.String(36),
                  sa.ForeignKey("units.id", name=op.f("fk_campaigns_check_unit_id_units"))),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("skipped_held", sa.Integer, nullable=False),
        sa.Column("created_by", sa.String(36),
                  sa.ForeignKey("users.id", name=op.f("fk_campaigns_created_by_users")),
                  nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("status IN ('open', 'closed')", name=op.f("ck_campaigns_status")),
    )
    op.create_index(op.f("ix_campaigns_unit_id"), "campaigns", ["unit_id"])
    op.create_index(op.f("ix_campaigns_created_at"), "campaigns", ["created_at"])
    op.create_table(
        "recheck_tasks",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("campaign_id", sa.String(36),
                  sa.ForeignKey("campaigns.id", ondelete="CASCADE",
                                name=op.f("fk_recheck_tasks_campaign_id_campaigns")),
                  nullable=False),
        sa.Column("case_id", sa.String(36),
                  sa.ForeignKey("cases.id", name=op.f("fk_recheck_tasks_case_id_cases")),
                  nullable=False),
        sa.Column("check_unit_id", sa.String(36),
                  sa.ForeignKey("units.id", name=op.f("fk_recheck_tasks_check_unit_id_units")),
                  nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("rebound", sa.Boolean),
        sa.Column("new_problem", sa.Text),
        sa.Column("findings", sa.Text),
        sa.Column("lat", sa.Float),
        sa.Column("lon", sa.Float),
        sa.Column("accuracy_m", sa.Float),
        sa.Column("checked_at", sa.DateTime(timezone=True)),
        sa.Column("received_at", sa.DateTime(timezone=True)),
        sa.Column("checked_by", sa.String(36),
                  sa.ForeignKey("users.id", name=op.f("fk_recheck_tasks_checked_by_users"))),
        sa.Column("visit_id", sa.String(36),
                  sa.ForeignKey("visits.id", name=op.f("fk_recheck_tasks_visit_id_visits"))),
        sa.Column("client_id", sa.String(36)),
        sa.Column("request_hash", sa.String(64)),
        sa.UniqueConstraint("client_id", name=op.f("uq_recheck_tasks_client_id")),
        sa.CheckConstraint("status IN ('pending', 'done')",
                           name=op.f("ck_recheck_tasks_status")),
    )
    op.create_index(op.f("ix_recheck_tasks_case_id"), "recheck_tasks", ["case_id"])
    op.create_index(op.f("ix_recheck_tasks_check_unit_id"), "recheck_tasks",
                    ["check_unit_id"])
    op.create_index("ix_recheck_tasks_campaign", "recheck_tasks",
                    ["campaign_id", "check_unit_id", "status"])
    op.create_index("ux_recheck_tasks_pending_case", "recheck_tasks", ["case_id"],
                    unique=True, postgresql_where=sa.text(PENDING_WHERE),
                    sqlite_where=sa.text(PENDING_WHERE))
    op.create_table(
        "rectification_plans",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("case_id", sa.String(36),
                  sa.ForeignKey("cases.id", name=op.f("fk_rectification_plans_case_id_cases")),
                  nullable=False),
        sa.Column("task_id", sa.String(36),
                  sa.ForeignKey("recheck_tasks.id",
                                name=op.f("fk_rectification_plans_task_id_recheck_tasks"))),
        sa.Column("problem_type", sa.String(200), nullable=False),
        sa.Column("original_problem", sa.Text, nullable=False),
        sa.Column("new_problem", sa.Text),
        sa.Column("measures", sa.Text, nullable=False),
        sa.Column("target", sa.Text, nullable=False),
        sa.Column("implementer", sa.String(300), nullable=False),
        sa.Column("acceptance_unit_id", sa.String(36),
                  sa.ForeignKey("units.id",
                                name=op.f("fk_rectification_plans_acceptance_unit_id_units")),
                  nullable=False),
        sa.Column("due_on", sa.Date, nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True)),
        sa.Column("accepted_by", sa.String(36),
                  sa.ForeignKey("users.id",
                                name=op.f("fk_rectification_plans_accepted_by_users"))),
        sa.Column("acceptance_note", sa.Text),
        sa.Column("created_by", sa.String(36),
                  sa.ForeignKey("users.id", name=op.f("fk_rectification_plans_created_by_users")),
                  nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("status IN ('open', 'accepted')",
                           name=op.f("ck_rectification_plans_status")),
    )
    op.create_index(op.f("ix_rectification_plans_case_id"), "rectification_plans", ["case_id"])
    op.create_index(op.f("ix_rectification_plans_task_id"), "rectification_plans", ["task_id"])


def downgrade():
    op.drop_table("rectification_plans")
    op.drop_table("recheck_tasks")
    op.drop_table("campaigns")
